"""Date order: credit notes not before their invoice, issue dates never backwards, future periods refused;
and the credit note's German labels and signs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from counselkit.billing.commands import billing
from counselkit.billing.ledger import Ledger, ledger_path
from counselkit.billing.period import Period
from counselkit.billing.run import BillingError, credit_note, run_period
from counselkit.billing.validate import Validator

NOV, DEC = Period.parse("2026-11"), Period.parse("2026-12")
ISSUE = date(2026, 12, 1)


def _count(path: Path) -> int:
    return len(Ledger(ledger_path(path)).load().records) if ledger_path(path).exists() else 0


def test_credit_note_not_before_its_invoice(saas_file: Path, any_validator: Validator) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    with pytest.raises(BillingError, match="before the invoice RE-000002"):
        credit_note(saas_file, "RE-000002", "Storno", issue_date=date(2026, 11, 30), validator=any_validator)
    assert _count(saas_file) == 3


def test_issue_dates_never_go_backwards(saas_file: Path, any_validator: Validator) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    run_period(saas_file, DEC, issue_date=date(2027, 1, 4), validator=any_validator)
    with pytest.raises(BillingError, match="before RE-000006 of 2027-01-04"):
        credit_note(saas_file, "RE-000001", "Storno", issue_date=date(2027, 1, 3), validator=any_validator)
    saas_file.write_text(saas_file.read_text(encoding="utf-8").replace("seats: 8", "seats: 9"), encoding="utf-8")
    credit_note(saas_file, "RE-000002", "Plätze", issue_date=date(2027, 1, 5), validator=any_validator)
    with pytest.raises(BillingError, match="before RE-000007 of 2027-01-05"):  # the re-bill after the correction
        run_period(saas_file, NOV, issue_date=date(2027, 1, 4), validator=any_validator)
    assert _count(saas_file) == 7
    assert run_period(saas_file, NOV, issue_date=date(2027, 1, 5), validator=any_validator).issued[1].new


def test_future_period_refused_without_flag(saas_file: Path, any_validator: Validator) -> None:
    for day in (date(2026, 12, 1), date(2026, 12, 31)):  # period not over on the invoice date
        with pytest.raises(BillingError, match="not over on the invoice date"):
            run_period(saas_file, DEC, issue_date=day, validator=any_validator)
    assert _count(saas_file) == 0
    advance = run_period(saas_file, DEC, issue_date=date(2026, 12, 1), validator=any_validator, allow_future=True)
    assert len(advance.issued) == 3


def test_cli_future_period_flag(saas_file: Path, any_validator: Validator) -> None:
    runner = CliRunner()
    args = ["run", "--period", "2027-05", "--file", str(saas_file), "--issue-date", "2027-05-02", "--xsd-only"]
    refused = runner.invoke(billing, args)
    assert refused.exit_code != 0 and "--allow-future" in refused.output and "Traceback" not in refused.output
    assert runner.invoke(billing, args + ["--allow-future"]).exit_code == 0


def test_credit_note_pdf_labels_and_signs(saas_file: Path, any_validator: Validator) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    note = credit_note(saas_file, "RE-000002", "Falsche Anzahl Beraterplätze", issue_date=date(2026, 12, 3),
                       validator=any_validator)
    text = PdfReader(str(note.pdf_file)).pages[0].extract_text()
    for phrase in ("Rechnungskorrektur (Stornorechnung)", "Nr. der Rechnungskorrektur", "Datum der Rechnungskorrektur",
                   "Korrektur zu Rechnung Nr.", "RE-000002 vom 01.12.2026", "-141,00 EUR", "-26,79 EUR",
                   "-167,79 EUR", "-52,00", "Korrekturbetrag"):
        assert phrase in text, phrase
    for wrong in ("Rechnungsnummer", "Rechnungsdatum", "Korrigiert Rechnung", "Gutschrift"):
        assert wrong not in text, wrong
