"""`tenant add` appends one entry as text: the rest of the file stays byte for byte, bad input writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from counselkit.load import load_inventory
from counselkit.problems import InputError
from counselkit.tenant_add import add_tenant, entry_from_options

OPTIONS = {
    "slug": "caritas-flensburg", "name": "Caritas Flensburg", "start": "2026-12-01", "end": None, "plan_name": None,
    "seats": 6, "admins": ("Jana Lund <j.lund@caritas-fl.example>",), "street": "Friedrichstraße 1",
    "postcode": "24937", "city": "Flensburg", "billing_email": "rechnung@caritas-fl.example",
    "buyer_reference": None, "cost_centre": None, "imprint_url": "https://caritas-fl.example/impressum",
    "privacy_url": "https://caritas-fl.example/datenschutz", "primary_color": None, "host": None,
}


def test_append_keeps_everything_before(example_copy: Path) -> None:
    original = example_copy.read_text(encoding="utf-8")
    add_tenant(example_copy, entry_from_options(OPTIONS))
    updated = example_copy.read_text(encoding="utf-8")
    assert updated.startswith(original.rstrip("\n"))
    assert "# every centre lives at <slug>.beratung.example.org" in updated
    inventory = load_inventory(example_copy)
    assert inventory.tenants[-1].slug == "caritas-flensburg"
    assert str(inventory.tenants[-1].contract.start) == "2026-12-01"


def test_tenants_section_in_the_middle(tmp_path: Path, example_copy: Path) -> None:
    text = example_copy.read_text(encoding="utf-8")
    head, tenants = text.split("\ntenants:\n")
    platform_start = head.index("platform:")
    moved = head[:platform_start] + "tenants:\n" + tenants.rstrip("\n") + "\n\n# the platform\n" + head[platform_start:]
    example_copy.write_text(moved, encoding="utf-8")
    add_tenant(example_copy, entry_from_options(OPTIONS))
    updated = example_copy.read_text(encoding="utf-8")
    assert updated.index("caritas-flensburg") < updated.index("# the platform")
    assert load_inventory(example_copy).tenants[-1].slug == "caritas-flensburg"


@pytest.mark.parametrize(("change", "words"), [
    ({"slug": "awo-kiel"}, "duplicate slug"),
    ({"start": "2026-13-01"}, "date"),
    ({"billing_email": "nope"}, "@-sign"),
    ({"host": "node7"}, "unknown host"),
])
def test_invalid_entry_writes_nothing(example_copy: Path, change: dict, words: str) -> None:
    before = example_copy.read_bytes()
    with pytest.raises(InputError) as caught:
        add_tenant(example_copy, entry_from_options({**OPTIONS, **change}))
    assert any(words in p.message for p in caught.value.problems), caught.value.problems
    assert example_copy.read_bytes() == before


def test_admin_must_be_name_and_email() -> None:
    with pytest.raises(InputError, match="Name <email>"):
        entry_from_options({**OPTIONS, "admins": ("just a name",)})


def test_crlf_file_stays_crlf(example_copy: Path) -> None:
    crlf = example_copy.read_bytes().replace(b"\n", b"\r\n")
    example_copy.write_bytes(crlf)
    add_tenant(example_copy, entry_from_options(OPTIONS))
    updated = example_copy.read_bytes()
    assert updated.startswith(crlf.rstrip(b"\r\n"))
    assert updated.count(b"\n") == updated.count(b"\r\n") > crlf.count(b"\n")  # the new lines are CRLF too
    assert load_inventory(example_copy).tenants[-1].slug == "caritas-flensburg"


def test_lf_file_stays_lf(example_copy: Path) -> None:
    add_tenant(example_copy, entry_from_options(OPTIONS))
    assert b"\r" not in example_copy.read_bytes()


def test_symlinked_file_is_updated_at_its_target(tmp_path: Path, example_copy: Path) -> None:
    (tmp_path / "config").mkdir()
    target = tmp_path / "config" / "tenants.yaml"
    example_copy.rename(target)
    target.chmod(0o640)
    link = tmp_path / "tenants.yaml"
    link.symlink_to(Path("config") / "tenants.yaml")
    add_tenant(link, entry_from_options(OPTIONS))
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert "caritas-flensburg" in target.read_text(encoding="utf-8")
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tmp_path / "config").iterdir()) == ["tenants.yaml"]  # no temporary file left


@pytest.mark.parametrize("line_break", ["\r", "\x85", "\u2028", "\u2029"])
def test_other_line_breaks_are_refused(example_copy: Path, line_break: str) -> None:
    """YAML counts these as line breaks, a LF split does not: the entry would land in the wrong place."""
    text = example_copy.read_text(encoding="utf-8").replace("# Check it with", f"# Check{line_break}# it with")
    with example_copy.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    before = example_copy.read_bytes()
    with pytest.raises(InputError, match=f"U\\+{ord(line_break):04X}"):
        add_tenant(example_copy, entry_from_options(OPTIONS))
    assert example_copy.read_bytes() == before


def test_hostile_name_from_the_command_line_writes_nothing(example_copy: Path) -> None:
    before = example_copy.read_bytes()
    with pytest.raises(InputError) as caught:
        add_tenant(example_copy, entry_from_options({**OPTIONS, "name": "Caritas\n  access_log /tmp/x;"}))
    assert [p.field for p in caught.value.problems] == ["tenants[3].name"]
    assert example_copy.read_bytes() == before
