"""Corrections: an invoice that tenants.yaml now contradicts is reported with what changed, and --correct
cancels it with a Rechnungskorrektur and issues the new invoice in the same run."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from counselkit.billing.commands import billing
from counselkit.billing.ledger import Ledger, ledger_path
from counselkit.billing.period import Period
from counselkit.billing.run import BillingError, run_period
from counselkit.billing.validate import Validator

NOV = Period.parse("2026-11")
ISSUE = date(2026, 12, 1)


def _more_seats(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace("seats: 8", "seats: 9"), encoding="utf-8")


def test_conflict_reported_with_difference(saas_file: Path, any_validator: Validator) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    _more_seats(saas_file)
    with pytest.raises(BillingError) as caught:
        run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    message = str(caught.value)
    assert "RE-000002 (diakonie-luebeck)" in message and "167,79 EUR" in message and "175,53 EUR" in message
    assert "--correct" in message
    assert len(Ledger(ledger_path(saas_file)).load().records) == 3


def test_correct_issues_credit_note_and_new_invoice(saas_file: Path, official_validator: Validator) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=official_validator)
    _more_seats(saas_file)
    result = run_period(saas_file, NOV, issue_date=date(2026, 12, 3), validator=official_validator, correct=True)
    assert [(i.document.number, i.document.kind, i.new) for i in result.issued] == [
        ("RE-000001", "invoice", False), ("RE-000004", "credit_note", True), ("RE-000005", "invoice", True),
        ("RE-000003", "invoice", False)]
    note, invoice = result.issued[1].document, result.issued[2].document
    assert note.preceding_number == "RE-000002" and "RE-000005" in note.correction_reason
    assert note.gross_total == Decimal("167.79") and invoice.gross_total == Decimal("175.53")
    for issued in result.issued[1:3]:
        assert official_validator.validate(issued.xml_file.read_bytes()).fatal == []
    ledger = Ledger(ledger_path(saas_file)).load()
    assert ledger.current_invoice("2026-11", "diakonie-luebeck").number == "RE-000005"
    assert ledger.records[3].status_of == "RE-000002"
    again = run_period(saas_file, NOV, issue_date=date(2026, 12, 4), validator=official_validator, correct=True)
    assert not any(i.new for i in again.issued) and len(Ledger(ledger_path(saas_file)).load().records) == 5


def test_cli_correct_flag(saas_file: Path) -> None:
    runner = CliRunner()
    args = ["run", "--period", "2026-11", "--file", str(saas_file), "--issue-date", "2026-12-01", "--xsd-only"]
    assert runner.invoke(billing, args).exit_code == 0
    _more_seats(saas_file)
    refused = runner.invoke(billing, args)
    assert refused.exit_code != 0 and "--correct" in refused.output
    fixed = runner.invoke(billing, args + ["--correct"])
    assert fixed.exit_code == 0 and "correction RE-000004" in fixed.output and "new        RE-000005" in fixed.output

