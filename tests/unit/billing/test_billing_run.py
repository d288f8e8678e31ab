"""End-to-end: `billing run` writes validated PDFs and XRechnung, the ledger numbers once, credit notes, tampering."""

from __future__ import annotations

import json
import re
import multiprocessing
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from pypdf import PdfReader

from counselkit.billing.cii import render_cii
from counselkit.billing.commands import billing
from counselkit.billing.ledger import Ledger, ledger_path
from counselkit.billing.period import Period
from counselkit.billing.run import BillingError, credit_note, run_period
from counselkit.billing.validate import InvalidInvoice, Validator
from counselkit.problems import InputError

NOV = Period.parse("2026-11")
ISSUE = date(2026, 12, 1)


def _numbers(path: Path) -> list[str]:
    return [r.number for r in Ledger(ledger_path(path)).load().records]


def test_run_writes_valid_invoices(saas_file: Path, official_validator: Validator) -> None:
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=official_validator)
    assert [i.document.number for i in result.issued] == ["RE-000001", "RE-000002", "RE-000003"]
    for issued in result.issued:
        xml = issued.xml_file.read_bytes()
        report = official_validator.validate(xml)
        assert report.fatal == [] and len(report.rule_sets) == 4
        pdf = PdfReader(str(issued.pdf_file))
        assert "xrechnung.xml" in pdf.attachments and pdf.attachments["xrechnung.xml"][0] == xml
        text = pdf.pages[0].extract_text()
        for phrase in ("Rechnung", "Rechnungsnummer", "Rechnungsdatum", "Leistungszeitraum", "Nettobetrag",
                       "Umsatzsteuer 19 %", "Gesamtbetrag", "Zahlungsziel", "USt-IdNr.", "DE02120300000000202051",
                       issued.document.number, "Nordlicht Sozial-IT GmbH"):
            assert phrase in text, phrase
    kiel = etree.parse(str(result.issued[0].xml_file))
    assert kiel.findtext(".//{*}BuyerReference") == "04-AWO-KIEL-2026"  # Leitweg-ID carried
    csv_text = result.summary_csv.read_text(encoding="utf-8")
    assert csv_text.count("\n") == 4 and "RE-000003;invoice;2026-12-01" in csv_text and "not measured" in csv_text


@pytest.mark.parametrize(("fixture", "category"), [("sharing_file", "S"), ("exempt_sharing_file", "E")])
def test_cost_sharing_invoices_are_valid(fixture: str, category: str, official_validator: Validator,
                                         request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(fixture)
    result = run_period(path, NOV, issue_date=ISSUE, validator=official_validator)
    assert [i.document.number for i in result.issued] == ["UM-000001", "UM-000002", "UM-000003"]
    for issued in result.issued:
        assert official_validator.validate(issued.xml_file.read_bytes()).fatal == []
        text = PdfReader(str(issued.pdf_file)).pages[0].extract_text()
        assert ("§ 4 Nr. 29 UStG" in text) == (category == "E") and "Kostenanteil" in text
        assert etree.parse(str(issued.xml_file)).findtext(".//{*}CategoryCode") == category


def test_rerun_reproduces_same_numbers_and_xml(saas_file: Path, any_validator: Validator) -> None:
    first = run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    xml_before = {i.document.number: i.xml_file.read_bytes() for i in first.issued}
    second = run_period(saas_file, NOV, issue_date=date(2027, 1, 5), validator=any_validator)  # other day: same invoices
    assert all(not i.new for i in second.issued)
    assert {i.document.number: i.xml_file.read_bytes() for i in second.issued} == xml_before
    assert _numbers(saas_file) == ["RE-000001", "RE-000002", "RE-000003"]
    december = run_period(saas_file, Period.parse("2026-12"), issue_date=date(2027, 1, 2), validator=any_validator)
    assert [i.document.number for i in december.issued] == ["RE-000004", "RE-000005", "RE-000006"]
    assert _numbers(saas_file) == [f"RE-{n:06d}" for n in range(1, 7)]


def test_changed_input_is_refused_then_corrected_by_credit_note(saas_file: Path, any_validator: Validator) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    saas_file.write_text(saas_file.read_text(encoding="utf-8").replace("seats: 8", "seats: 9"), encoding="utf-8")
    with pytest.raises(BillingError, match="RE-000002"):
        run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    assert _numbers(saas_file) == ["RE-000001", "RE-000002", "RE-000003"]  # nothing issued by the failed run
    note = credit_note(saas_file, "RE-000002", "Falsche Anzahl Beraterplätze", issue_date=date(2026, 12, 3),
                       validator=any_validator)
    assert note.document.number == "RE-000004" and note.document.preceding_number == "RE-000002"
    xml = etree.parse(str(note.xml_file))
    assert xml.findtext(".//{*}ExchangedDocument/{*}TypeCode") == "381"
    assert xml.findtext(".//{*}InvoiceReferencedDocument/{*}IssuerAssignedID") == "RE-000002"
    text = PdfReader(str(note.pdf_file)).pages[0].extract_text()
    assert "Rechnungskorrektur" in text and "RE-000002 vom 01.12.2026" in text
    again = credit_note(saas_file, "RE-000002", "again", validator=any_validator)
    assert not again.new and again.document.number == "RE-000004"
    rebill = run_period(saas_file, NOV, issue_date=date(2026, 12, 3), validator=any_validator)
    assert [(i.document.number, i.new) for i in rebill.issued] == [
        ("RE-000001", False), ("RE-000005", True), ("RE-000003", False)]
    assert rebill.issued[1].document.lines[1].quantity == 9
    with pytest.raises(BillingError, match="credit note"):
        credit_note(saas_file, "RE-000004", "x", validator=any_validator)


def test_official_rules_validate_credit_note(saas_file: Path, official_validator: Validator) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=official_validator)
    note = credit_note(saas_file, "RE-000001", "Storno", issue_date=date(2026, 12, 2), validator=official_validator)
    assert official_validator.validate(note.xml_file.read_bytes()).fatal == []


@pytest.mark.parametrize(("edit", "rule"), [
    (lambda x: x.replace(b"<ram:GrandTotalAmount>198.73", b"<ram:GrandTotalAmount>198.74"), "BR-CO-15"),
    (lambda x: x.replace(b"<ram:BuyerReference>04-AWO-KIEL-2026</ram:BuyerReference>",
                         b"<ram:BuyerReference> </ram:BuyerReference>"), "BR-DE-15"),
    (lambda x: x.replace(b"<ram:TypeCode>58</ram:TypeCode>", b"<ram:TypeCode>58</ram:TypeCode>", 1)
     .replace(b"<ram:IBANID>DE02120300000000202051</ram:IBANID>", b""), "BR-61"),
    (lambda x: re.sub(rb"<ram:TelephoneUniversalCommunication>.*?</ram:TelephoneUniversalCommunication>", b"", x,
                      flags=re.S), "BR-DE-6"),
])
def test_broken_invoice_is_rejected_by_official_rules(saas_file: Path, official_validator: Validator, edit, rule) -> None:
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=official_validator)
    broken = edit(result.issued[0].xml_file.read_bytes())
    report = official_validator.validate(broken)
    assert rule in {f.rule_id for f in report.fatal}, [str(f) for f in report.findings]
    if rule == "BR-61":  # the XRechnung rule for the same defect is a warning, reported but not fatal
        assert "BR-DE-19" in {f.rule_id for f in report.warnings}
    with pytest.raises(InvalidInvoice):
        official_validator.check("broken", broken)


def test_xsd_rejects_structural_break(any_validator: Validator, saas_file: Path) -> None:
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    broken = result.issued[0].xml_file.read_bytes().replace(b"<ram:TypeCode>380</ram:TypeCode>", b"")
    assert any(f.rule_id == "XSD" for f in any_validator.validate(broken).fatal)


def test_invalid_invoice_writes_nothing_and_uses_no_number(saas_file: Path, any_validator: Validator,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import counselkit.billing.run as run_module

    monkeypatch.setattr(run_module, "render_cii", lambda doc: render_cii(doc).replace(b"<ram:TypeCode>380</ram:TypeCode>", b""))
    with pytest.raises(InvalidInvoice):
        run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    assert not ledger_path(saas_file).exists() or _numbers(saas_file) == []
    assert not (saas_file.parent / "invoices" / "2026-11").exists() or not list((saas_file.parent / "invoices" / "2026-11").glob("*.xml"))


def test_tampering_is_detected(saas_file: Path, any_validator: Validator) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    path = ledger_path(saas_file)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0] + lines[2], encoding="utf-8")  # a record removed
    with pytest.raises(InputError, match="sequence gap"):
        Ledger(path).load()
    record = json.loads(lines[1])
    record["document"]["gross_total"] = "1.00"
    path.write_text(lines[0] + json.dumps(record) + "\n" + lines[2], encoding="utf-8")  # an amount edited
    with pytest.raises(InputError, match="hash chain"):
        Ledger(path).load()
    with pytest.raises(InputError):
        run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)


def _worker(args: tuple[str, str]) -> list[str]:
    path, period = args
    result = run_period(Path(path), Period.parse(period), issue_date=ISSUE, allow_future=True,  # one date: any order
                        validator=Validator(official=False, xsd_only_allowed=True))
    return [i.document.number for i in result.issued]


def test_concurrent_runs_never_duplicate_numbers(saas_file: Path) -> None:
    periods = ["2026-11", "2026-12", "2027-01", "2026-11"]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_worker, [(str(saas_file), p) for p in periods])
    numbers = _numbers(saas_file)
    assert numbers == [f"RE-{n:06d}" for n in range(1, 10)]  # 3 periods x 3 tenants, the repeated one reproduced


def test_cli_run_and_errors(saas_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(billing, ["run", "--period", "2026-11", "--file", str(saas_file), "--issue-date", "2026-12-01"])
    assert out.exit_code == 0, out.output
    assert "RE-000003" in out.output and "validated with" in out.output
    listing = runner.invoke(billing, ["ledger", "--file", str(saas_file)])
    assert listing.exit_code == 0 and "3 records: sequence, amounts, hash chain, pinned head and archived originals intact" in listing.output
    bad = runner.invoke(billing, ["run", "--period", "2026-13", "--file", str(saas_file)])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output and "Traceback" not in bad.output
    broken = tmp_path / "broken" / "tenants.yaml"
    broken.parent.mkdir()
    broken.write_text(saas_file.read_text(encoding="utf-8").replace("seats: 12", "seats: -1"), encoding="utf-8")
    result = runner.invoke(billing, ["run", "--period", "2026-11", "--file", str(broken)])
    assert result.exit_code != 0 and "tenants[0].seats" in result.output and "Traceback" not in result.output
    missing = runner.invoke(billing, ["credit-note", "RE-999999", "--reason", "x", "--file", str(saas_file)])
    assert missing.exit_code != 0 and "not in the ledger" in missing.output
