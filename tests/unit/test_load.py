"""The loader: the example is valid, and every kind of mistake is reported with file, line and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from counselkit.load import load_inventory
from counselkit.problems import InputError, Problem

from tests.support import EXAMPLE, example_data, png_bytes, tenant_entry, write_yaml

DATA = Path(__file__).parent / "data"


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_inventory(path)
    return sorted(caught.value.problems)


def test_example_is_valid_and_money_is_decimal() -> None:
    inventory = load_inventory(EXAMPLE)
    assert [t.slug for t in inventory.tenants] == ["awo-kiel", "diakonie-luebeck", "skf-husum"]
    lite = inventory.platform.pricing.plans["lite"]
    assert lite.seat_fee == Decimal("6.50") and isinstance(lite.seat_fee, Decimal)
    assert lite.storage_fee_per_gb == Decimal("0.40")


def test_five_mistakes_all_reported_with_lines() -> None:
    found = problems_of(DATA / "five_mistakes.yaml")
    assert [(p.line, p.field) for p in found] == [
        (8, "platform.operator.iban"),
        (28, "tenants[0].branding.primary_color"),
        (31, "tenants[1].slug"),
        (33, "tenants[1].contract"),
        (35, "tenants[1].admins[0].email"),
    ]
    assert all(p.file.endswith("five_mistakes.yaml") and p.column > 0 for p in found)
    assert "duplicate slug 'awo-kiel'" in found[2].message
    assert "before it starts" in found[3].message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["tenants"][0].update(slug="AWO Kiel"), "tenants[0].slug", "not a valid slug"),
        (lambda d: d["tenants"][0].update(slug="admin"), "tenants[0].slug", "reserved"),
        (lambda d: d["tenants"][0].update(slug="a" * 29), "tenants[0].slug", "not a valid slug"),
        (lambda d: d["tenants"][0].update(host="node9"), "tenants[0].host", "unknown host 'node9'"),
        (lambda d: d["tenants"][0].update(seats=0), "tenants[0].seats", "greater than or equal to 1"),
        (lambda d: d["tenants"][0].update(colour="#fff"), "tenants[0].colour", "allowed here: slug, name"),
        (lambda d: d["tenants"][0]["billing"].update(email="no-at-sign"), "tenants[0].billing.email", "@-sign"),
        (lambda d: d["tenants"][0]["branding"].update(secondary_color="#12345"), "tenants[0].branding.secondary_color", "six hex digits"),
        (lambda d: d["tenants"][0]["contract"].update(plan="gold"), "tenants[0].contract.plan", "unknown plan 'gold'"),
        (lambda d: d["platform"]["operator"].update(iban="DE00120300000000202051"), "platform.operator.iban", "not a valid IBAN"),
        (lambda d: d["platform"]["operator"].pop("vat_id"), "platform.operator", "vat_id or tax_number"),
        (lambda d: d["platform"].update(tls="acme"), "platform", "acme_email"),
        (lambda d: d["platform"]["admins"][0].update(ssh_key="not a key"), "platform.admins[0].ssh_key", "OpenSSH public key"),
        (lambda d: d["platform"]["hosts"].append(dict(d["platform"]["hosts"][0])), "platform.hosts[1].name", "duplicate host name"),
        (lambda d: d["platform"]["pricing"].update(mode="cost_sharing"), "platform.pricing", "cost_sharing"),
        (lambda d: d["platform"]["backup"].update(bucket="Bad_Bucket"), "platform.backup.bucket", "bucket name"),
        (lambda d: d.update(extra=1), "extra", "unknown top-level key"),
        (lambda d: d["tenants"][0].update(federation=True), "tenants[0]", "needs federation_domains"),
        (lambda d: d["tenants"][0].update(federation_domains=["partner.example"]), "tenants[0]", "federation is false"),
        (lambda d: d["tenants"][0].update(federation=True, federation_domains=["Partner Example"]),
         "tenants[0].federation_domains[0]", "not a valid DNS domain"),
        (lambda d: d["tenants"][0].update(federation=True, federation_domains=["a.example", "a.example"]),
         "tenants[0]", "twice"),
    ],
)
def test_each_mistake_names_field_and_rule(tmp_path: Path, change, field: str, words: str) -> None:
    data = example_data()
    change(data)
    found = problems_of(write_yaml(tmp_path / "tenants.yaml", data))
    assert any(p.field == field and words in p.message for p in found), found
    assert all(p.line > 0 for p in found)


def test_over_capacity_is_caught(tmp_path: Path) -> None:
    data = example_data()
    data["platform"]["hosts"][0]["capacity_tenants"] = 2
    for entry in data["tenants"]:
        entry["host"] = "node1"
    found = problems_of(write_yaml(tmp_path / "tenants.yaml", data))
    assert any(p.field == "tenants[2].host" and "over capacity" in p.message for p in found)
    assert any(p.field == "tenants" and "hold 2" in p.message for p in found)


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text("platform:\n  domain: x\n tenants: [\n", encoding="utf-8")
    found = problems_of(path)
    assert len(found) == 1 and found[0].line >= 2 and "invalid YAML" in found[0].message


def test_duplicate_yaml_key_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text("platform: {}\nplatform: {}\n", encoding="utf-8")
    found = problems_of(path)
    assert found[0].line == 2 and "duplicate" in found[0].message


def test_missing_file_and_wrong_root(tmp_path: Path) -> None:
    assert "file not found" in problems_of(tmp_path / "nope.yaml")[0].message
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    assert "must be a mapping" in problems_of(path)[0].message


def test_logo_must_exist_next_to_file(tmp_path: Path) -> None:
    data = example_data()
    data["tenants"][0]["branding"]["logo"] = "logos/awo.png"
    path = write_yaml(tmp_path / "tenants.yaml", data)
    assert any("logos/awo.png" in p.message for p in problems_of(path))
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "awo.png").write_bytes(png_bytes())
    assert load_inventory(path).tenants[0].branding.logo == "logos/awo.png"


def test_all_tenants_checked_even_after_a_bad_one(tmp_path: Path) -> None:
    data = example_data()
    data["tenants"] = [tenant_entry("ok-one"), tenant_entry("Bad!"), tenant_entry("ok-two", seats=-1)]
    found = problems_of(write_yaml(tmp_path / "tenants.yaml", data))
    assert {p.field for p in found} == {"tenants[1].slug", "tenants[2].seats"}


def test_impossible_date_is_reported_at_its_line(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("start: 2026-01-01", "start: 2026-12-32")
    path = tmp_path / "tenants.yaml"
    path.write_text(text, encoding="utf-8")
    found = problems_of(path)
    expected_line = text.splitlines().index(next(l for l in text.splitlines() if "2026-12-32" in l)) + 1
    assert [(p.field, p.line) for p in found] == [("tenants[0].contract.start", expected_line)]
