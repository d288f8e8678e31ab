"""The field types behind the bad-input corpus, probed directly: what passes, what not, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from counselkit.cli import cli
from counselkit.lock import Assignment, Lock, _PositionedJson, parse_lock, read_lock, write_lock
from counselkit.model.types import (
    Email, NetAddress, NonEmpty, UnixUser, VatId, address_key, german_vat_check_digit_ok,
)
from counselkit.problems import InputError, Problem
from tests.support import example_data, write_yaml


def accepts(kind: object, value: object) -> object:
    return TypeAdapter(kind).validate_python(value)


def rejects(kind: object, value: object) -> str:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(value)
    return str(caught.value)


@pytest.mark.parametrize("char", list("`$(){}|&;<>'\"\\ \t!*?~#=^/[],:") + ["\n", "\u00a0", "\u0663", "\u00b2", "\u200b",
                                                                           "\u202e", "\uff04"])
def test_email_refuses_what_a_shell_or_template_would_act_on(char: str) -> None:
    message = rejects(Email, f"of{char}fice@example.org")
    assert ("single-line field" if char in "\t\n\u202e" else "not an accepted e-mail address") in message


@pytest.mark.parametrize("value", ["a..b@example.org", ".a@example.org", "a.@example.org", "a@b@example.org",
                                   "a@example", "a@exa_mple.org", "a@xn--zz.org", "a@" + "a" * 250 + ".org"])
def test_email_refuses_malformed(value: str) -> None:
    rejects(Email, value)


@pytest.mark.parametrize(("value", "stored"), [("office@example.org", "office@example.org"),
                                                ("A.Lund+rechnung@Caritas-FL.Example", "A.Lund+rechnung@caritas-fl.example"),
                                                ("x_y%z-1@sub.xn--mnchen-3ya.de", "x_y%z-1@sub.xn--mnchen-3ya.de"),
                                                ("jörg.ähnlich@example.org", "jörg.ähnlich@example.org")])
def test_email_accepts_ordinary_addresses(value: str, stored: str) -> None:
    assert accepts(Email, value) == stored


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\x9b", "\r", "\n", "\t", "\u2028", "\u2029",
                                  "\u202a", "\u202e", "\u2066", "\u2069", "\u200e", "\u061c"])
def test_text_refuses_controls_separators_and_bidi(char: str) -> None:
    message = rejects(NonEmpty, f"Beratung{char}stelle")
    assert f"U+{ord(char):04X}" in message and "single-line field" in message


def test_text_keeps_real_names() -> None:
    for name in ["Diakonisches Werk Lübeck – Suchtberatung", "Çocuk ve Aile Danışma", "مركز الاستشارة", "पर\u094dया"]:
        assert accepts(NonEmpty, name) == name


@pytest.mark.parametrize(("value", "stored"), [("203.0.113.10", "203.0.113.10"), ("2001:DB8:0:0::1", "2001:db8::1"),
                                                ("node1.example.org", "node1.example.org"), ("1und1.de", "1und1.de")])
def test_address_accepts_canonical_forms(value: str, stored: str) -> None:
    assert accepts(NetAddress, value) == stored


@pytest.mark.parametrize("value", ["0203.0.113.010", "203.0.113.010", "0xcb.0.113.10", "203.1", "3405803786",
                                   "0xcb00710a", "203.0.113.10.", "fe80::1%eth0", "1.2.3.4.5", "node_1.example.org",
                                   "beratung.example.123", "r\u00e9seau.example.org", "\u0662\u0660\u0663.0.113.10"])
def test_address_refuses_disguised_and_non_ascii(value: str) -> None:
    rejects(NetAddress, value)


@pytest.mark.parametrize("spellings", [("203.0.113.10", "::ffff:203.0.113.10", "::ffff:cb00:710a", "::203.0.113.10"),
                                       ("2001:db8::1", "2001:DB8:0:0:0:0:0:1"), ("Node1.Example.org", "node1.example.org.")])
def test_address_key_sees_equivalent_spellings(spellings: tuple[str, ...]) -> None:
    assert len({address_key(s) for s in spellings}) == 1


@pytest.mark.parametrize("value", ["DE136695976", "DE811907980", "ATU12345678", "NL123456789B01", "FRXX123456789",
                                   "EL123456789", "IE1234567WA", "ESX1234567X", "SE123456789001", "XIGD123"])
def test_vat_ids_of_the_right_format_pass(value: str) -> None:
    assert accepts(VatId, value) == value


def test_german_check_digit_iso_7064() -> None:
    # Valid numbers published by their holders; changing any digit breaks the check.
    for digits in ["136695976", "811907980", "129273398"]:
        assert german_vat_check_digit_ok(digits)
        for position in range(9):
            changed = digits[:position] + str((int(digits[position]) + 1) % 10) + digits[position + 1:]
            assert not german_vat_check_digit_ok(changed), changed


@pytest.mark.parametrize("value", ["anna", "jonas-ops", "j_lund"])
def test_personal_login_names_pass(value: str) -> None:
    assert accepts(UnixUser, value) == value


@pytest.mark.parametrize("value", ["keycloak", "postgres", "root", "www-data", "mx-awo-kiel", "mx-anything",
                                   "counselkit-admins", "counselkit-admin", "systemd-timesync", "_apt", "sshd",
                                   "nobody", "synapse_awo_kiel"])
def test_system_and_tenant_accounts_are_refused(value: str) -> None:
    assert "system or tenant account" in rejects(UnixUser, value)


def _validate_cli(path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["validate", str(path)])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("networks", "warned"), [(["0.0.0.0/0"], [0]), (["::/0", "192.0.2.0/24"], [0]),
                                                  (["10.0.0.0/8", "2001:db8::/48"], [0]), (["198.51.100.0/24"], [])])
def test_wide_admin_networks_warn_but_validate(tmp_path: Path, networks: list[str], warned: list[int]) -> None:
    data = example_data()
    data["platform"]["admin_networks"] = networks
    code, out, err = _validate_cli(write_yaml(tmp_path / "tenants.yaml", data))
    assert code == 0 and out.startswith(f"{tmp_path / 'tenants.yaml'}: valid")
    lines = [line for line in err.splitlines() if line]
    assert [line.split(": ")[1] for line in lines] == [f"platform.admin_networks[{i}]" for i in warned]
    assert all(": warning: " in line and "admin console" in line for line in lines)


def test_problem_output_cannot_forge_lines() -> None:
    text = str(Problem("t.yaml", 3, 5, "tenants.a\nb", "'x\rtenants.yaml: valid \u202e'"))
    assert "\n" not in text and "\r" not in text and "\u202e" not in text and "\\u000a" in text


def test_written_lock_reads_back(tmp_path: Path) -> None:
    lock = Lock({"awo-kiel": Assignment("node1", 8101), "skf-husum": Assignment("node2", 8101)})
    path = tmp_path / "tenants.lock.json"
    write_lock(path, lock)
    assert read_lock(path).assignments == lock.assignments
    assert read_lock(path).positions[("tenants", "skf-husum", "port")][0] == 11


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([None, 0, 2]))
def test_lock_reader_agrees_with_the_json_module(value: object, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    assert _PositionedJson(text).parse() == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | json_values.map(json.dumps))
def test_any_lock_text_gives_a_lock_or_problems(text: str) -> None:
    try:
        parse_lock(text, "fuzz.lock.json")
    except InputError as exc:
        assert exc.problems and all(p.file == "fuzz.lock.json" and p.message for p in exc.problems)
        assert all(str(p).encode("utf-8") and "\n" not in str(p) for p in exc.problems)  # printable, one line each
