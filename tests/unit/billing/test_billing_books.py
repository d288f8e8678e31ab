"""Tamper-evident books: the ledger head pinned in the write-once archive, amounts re-verified on load, originals
archived once and verified (never rewritten) by every later run."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from counselkit.billing.archive import ArchiveError, LocalArchive
from counselkit.billing.commands import billing
from counselkit.billing.ledger import GENESIS, Ledger, _digest, ledger_path
from counselkit.billing.period import Period
from counselkit.billing.run import BillingError, credit_note, run_period
from counselkit.billing.validate import Validator
from counselkit.problems import InputError

NOV, DEC = Period.parse("2026-11"), Period.parse("2026-12")
ISSUE = date(2026, 12, 1)


def _archive(path: Path) -> Path:
    return path.parent / "invoices-archive"


def _lines(path: Path) -> list[str]:
    return ledger_path(path).read_text(encoding="utf-8").splitlines(keepends=True)


def _rechain(records: list[dict]) -> str:
    """What a forger with the code would write: every hash recomputed so the chain itself is consistent."""
    prev, out = GENESIS, []
    for seq, record in enumerate(records, start=1):
        body = {k: v for k, v in record.items() if k != "hash"}
        body["prev"] = prev
        body["seq"] = seq
        prev = _digest(prev, body)
        out.append(json.dumps({**body, "hash": prev}, sort_keys=True, ensure_ascii=False) + "\n")
    return "".join(out)


def _snapshot(path: Path) -> dict[str, bytes]:
    root = path.parent
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and not p.name.endswith(".lock")}


def _refused(path: Path, validator: Validator, match: str) -> None:
    """The next run refuses with `match` and changes no file (nothing issued, nothing rewritten)."""
    before = _snapshot(path)
    with pytest.raises((InputError, BillingError, ArchiveError), match=match):
        run_period(path, DEC, issue_date=date(2027, 1, 2), validator=validator)
    assert _snapshot(path) == before


@pytest.fixture
def issued(saas_file: Path, any_validator: Validator) -> Path:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    return saas_file


def test_head_is_pinned_in_archive(issued: Path) -> None:
    pins = LocalArchive(_archive(issued)).pins()
    ledger = Ledger(ledger_path(issued)).load()
    assert [(p.seq, p.number, p.hash) for p in pins] == [(3, "RE-000003", ledger.head)]


def test_truncated_ledger_detected(issued: Path, any_validator: Validator) -> None:
    ledger_path(issued).write_text("".join(_lines(issued)[:2]), encoding="utf-8")  # last record cut off
    _refused(issued, any_validator, "truncated")


def test_deleted_ledger_detected(issued: Path, any_validator: Validator) -> None:
    ledger_path(issued).unlink()
    _refused(issued, any_validator, "ledger was deleted")


def test_emptied_ledger_detected(issued: Path, any_validator: Validator) -> None:
    ledger_path(issued).write_text("", encoding="utf-8")
    _refused(issued, any_validator, "ledger was deleted")


def test_reordered_ledger_detected(issued: Path, any_validator: Validator) -> None:
    lines = _lines(issued)
    ledger_path(issued).write_text(lines[0] + lines[2] + lines[1], encoding="utf-8")
    _refused(issued, any_validator, "sequence gap or reorder")


def test_reordered_and_rechained_ledger_detected(issued: Path, any_validator: Validator) -> None:
    records = [json.loads(line) for line in _lines(issued)]
    ledger_path(issued).write_text(_rechain([records[0], records[2], records[1]]), encoding="utf-8")
    _refused(issued, any_validator, "not record 2 of the sequence")


def test_forged_chain_with_consistent_amounts_detected(issued: Path, any_validator: Validator) -> None:
    """Lower an invoice consistently (line, net, VAT, gross) and recompute every hash: only the pin shows it."""
    records = [json.loads(line) for line in _lines(issued)]
    doc = records[1]["document"]
    doc["lines"][1].update(quantity="7", net="45.50")  # 8 -> 7 seats at 6.50
    doc.update(net_total="134.50", vat_total="25.56", gross_total="160.06")
    ledger_path(issued).write_text(_rechain(records), encoding="utf-8")
    assert len(Ledger(ledger_path(issued)).load().records) == 3  # the forged file is consistent on its own
    _refused(issued, any_validator, "ledger was rewritten")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(gross_total="1.00"), "is not gross"),
    (lambda d: d.update(vat_total="0.00", gross_total=d["net_total"]), "VAT 0.00 is not 19 %"),
    (lambda d: d.update(net_total="1.00"), "lines add up to"),
    (lambda d: d["lines"][0].update(net="1.00"), "net 1.00 is not quantity x price"),
])
def test_inconsistent_amounts_detected_even_with_recomputed_hashes(issued: Path, any_validator: Validator,
                                                                   change, message: str) -> None:
    records = [json.loads(line) for line in _lines(issued)]
    change(records[1]["document"])
    ledger_path(issued).write_text(_rechain(records), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        Ledger(ledger_path(issued)).load()
    _refused(issued, any_validator, "tampered")


def test_record_appended_outside_a_run_detected_and_pin_resolves(issued: Path, any_validator: Validator) -> None:
    records = [json.loads(line) for line in _lines(issued)]
    extra = json.loads(json.dumps(records[2]))
    extra["number"] = extra["document"]["number"] = "RE-000004"
    ledger_path(issued).write_text(_rechain(records + [extra]), encoding="utf-8")
    _refused(issued, any_validator, "follow the head")
    runner = CliRunner()
    listing = runner.invoke(billing, ["ledger", "--file", str(issued)])
    assert listing.exit_code != 0 and "follow the head" in listing.output
    pinned = runner.invoke(billing, ["ledger", "--file", str(issued), "--pin"])
    assert "pinned head RE-000004" in pinned.output
    assert LocalArchive(_archive(issued)).pins()[-1].number == "RE-000004"


def test_pin_never_hides_truncation(issued: Path) -> None:
    ledger_path(issued).write_text("".join(_lines(issued)[:1]), encoding="utf-8")
    result = CliRunner().invoke(billing, ["ledger", "--file", str(issued), "--pin"])
    assert result.exit_code != 0 and "truncated" in result.output and "Traceback" not in result.output


# --- originals ---------------------------------------------------------------------------------------------

def test_originals_archived_once_read_only_with_hashes_in_ledger(issued: Path) -> None:
    archive = _archive(issued) / "documents" / "2026-11"
    for record in Ledger(ledger_path(issued)).load().records:
        for suffix, sha in ((".xml", record.xml_sha256), (".pdf", record.pdf_sha256)):
            path = archive / f"{record.number}{suffix}"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
            assert stat.S_IMODE(path.stat().st_mode) == 0o444
            assert (issued.parent / "invoices" / "2026-11" / path.name).read_bytes() == path.read_bytes()


def test_rerun_verifies_and_never_rewrites(issued: Path, any_validator: Validator) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
              for p in (_archive(issued) / "documents").rglob("*.*")}
    again = run_period(issued, NOV, issue_date=date(2027, 3, 1), validator=any_validator)
    assert not any(i.new for i in again.issued)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in before}
    assert after == before
    for item in again.issued:
        assert item.pdf_file.read_bytes() == (_archive(issued) / "documents" / "2026-11" / item.pdf_file.name).read_bytes()


def test_changed_archived_original_refused(issued: Path, any_validator: Validator) -> None:
    path = _archive(issued) / "documents" / "2026-11" / "RE-000002.pdf"
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes() + b"%an incremental update would go here\n")
    os.chmod(path, 0o444)
    with pytest.raises(ArchiveError, match="RE-000002.pdf has sha256 .* the original was changed"):
        run_period(issued, NOV, issue_date=ISSUE, validator=any_validator)


def test_writable_archived_original_refused(issued: Path, any_validator: Validator) -> None:
    os.chmod(_archive(issued) / "documents" / "2026-11" / "RE-000001.xml", 0o644)
    with pytest.raises(ArchiveError, match="writable"):
        run_period(issued, NOV, issue_date=ISSUE, validator=any_validator)


def test_deleted_archived_original_restored_byte_identical(issued: Path, any_validator: Validator) -> None:
    path = _archive(issued) / "documents" / "2026-11" / "RE-000003.pdf"
    original = path.read_bytes()
    path.unlink()
    run_period(issued, NOV, issue_date=ISSUE, validator=any_validator)
    assert path.read_bytes() == original  # reproducible rendering: the same bytes, not a new "original"


def test_changed_working_copy_refused(issued: Path, any_validator: Validator) -> None:
    copy = issued.parent / "invoices" / "2026-11" / "RE-000001.xml"
    os.chmod(copy, 0o644)
    copy.write_bytes(copy.read_bytes().replace(b"198.73", b"98.73"))
    with pytest.raises(BillingError, match="differs from the archived original"):
        run_period(issued, NOV, issue_date=ISSUE, validator=any_validator)


def test_archive_refuses_other_bytes_for_an_existing_name(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "a")
    archive.put("2026-11", "RE-000001.xml", b"one")
    archive.put("2026-11", "RE-000001.xml", b"one")  # the same bytes again: fine
    with pytest.raises(ArchiveError, match="never rewritten"):
        archive.put("2026-11", "RE-000001.xml", b"two")
    assert (tmp_path / "a" / "documents" / "2026-11" / "RE-000001.xml").read_bytes() == b"one"


def test_credit_note_archived_and_pinned(issued: Path, any_validator: Validator) -> None:
    note = credit_note(issued, "RE-000002", "Storno", issue_date=date(2026, 12, 4), validator=any_validator)
    assert LocalArchive(_archive(issued)).pins()[-1].number == note.document.number == "RE-000004"
    assert (_archive(issued) / "documents" / "2026-11" / "RE-000004.pdf").read_bytes() == note.pdf_file.read_bytes()
    assert Decimal(note.document.gross_total) > 0
