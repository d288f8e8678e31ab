"""VAT from the closed list of legal bases: standard rate, declared exemptions, reverse charge; never free text."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from counselkit.billing.compute import TaxError, compute_documents
from counselkit.billing.money import cents
from counselkit.billing.period import Period
from counselkit.billing.run import run_period
from counselkit.billing.tax import EXEMPTIONS, USTG_4_NR_29
from counselkit.billing.usage import StorageUsage
from counselkit.billing.validate import Validator
from counselkit.load import load_inventory
from counselkit.plan import load_plan
from counselkit.problems import InputError

NOV = Period.parse("2026-11")
ISSUE = date(2026, 12, 1)
KIEL_BILLING = "      address: {street: Sophienblatt 64, postcode: \"24114\", city: Kiel}\n"


def _docs(path: Path):
    return compute_documents(load_inventory(path), load_plan(path), NOV, StorageUsage("none"), ISSUE)


def _edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _tax(xml: bytes) -> etree._Element:
    return etree.fromstring(xml).find(".//{*}ApplicableHeaderTradeSettlement/{*}ApplicableTradeTax")


def test_example_bills_standard_rate(saas_file: Path) -> None:
    docs = _docs(saas_file)
    assert {(d.vat_category, d.vat_rate, d.vat_basis, d.vat_exemption_reason) for d in docs} == {
        ("S", Decimal("19"), "standard", None)}
    assert all(d.vat_total == cents(d.net_total * Decimal("0.19")) for d in docs)


def test_cost_sharing_without_declaration_is_taxed(sharing_file: Path) -> None:
    """A commercial operator's Umlage is a taxable service: 19 % unless § 4 Nr. 29 is declared."""
    docs = _docs(sharing_file)
    assert {d.vat_category for d in docs} == {"S"}
    assert all(d.vat_total == cents(d.net_total * Decimal("0.19")) and d.vat_total > 0 for d in docs)


def test_declared_4_nr_29_is_exempt_with_vatex(exempt_sharing_file: Path, official_validator: Validator) -> None:
    result = run_period(exempt_sharing_file, NOV, issue_date=ISSUE, validator=official_validator)
    for issued in result.issued:
        xml = issued.xml_file.read_bytes()
        assert official_validator.validate(xml).fatal == []
        tax = _tax(xml)
        assert tax.findtext("{*}CategoryCode") == "E"
        assert tax.findtext("{*}ExemptionReasonCode") == "VATEX-EU-132-1F"
        assert tax.findtext("{*}ExemptionReason") == USTG_4_NR_29.note
        assert "§ 4 Nr. 29 UStG" in PdfReader(str(issued.pdf_file)).pages[0].extract_text()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("        exact_reimbursement: true\n", "", "not confirmed: exact_reimbursement"),
    ("        exact_reimbursement: true\n", "        exact_reimbursement: false\n", "not confirmed: exact_reimbursement"),
    ("        exact_reimbursement: true\n", "        exact_reimbursement: true\n        profit: true\n", "unknown condition"),
    ("basis: ustg_4_nr_29", "basis: ustg_4_nr_18", "not an exemption counselkit knows"),
    ("      declared_by: Anna Petersen (Geschäftsführung), geprüft mit Steuerberaterin\n", "", "declared_by"),
])
def test_exemption_needs_full_declaration(exempt_sharing_file: Path, old: str, new: str, message: str) -> None:
    _edit(exempt_sharing_file, old, new)
    with pytest.raises(InputError, match=message):
        load_inventory(exempt_sharing_file)


def test_4_nr_29_refused_for_saas(saas_file: Path) -> None:
    from tests.unit.billing.conftest import DECLARATION_4_29

    _edit(saas_file, "    payment_terms_days: 14\n", "    payment_terms_days: 14\n" + DECLARATION_4_29.strip("\n") + "\n")
    with pytest.raises(InputError, match="only applies in pricing mode cost_sharing"):
        load_inventory(saas_file)


@pytest.mark.parametrize("line", [
    "      vat_exempt_reason: \"§ 4 Nr. 18 UStG\"\n",  # the welfare body's own exemption, not for IT it buys
])
def test_tenant_free_text_exemption_refused(saas_file: Path, line: str) -> None:
    _edit(saas_file, KIEL_BILLING, KIEL_BILLING + line)
    with pytest.raises(InputError, match="free text never changes the tax"):
        load_inventory(saas_file)


def test_cost_sharing_free_text_exemption_refused(sharing_file: Path) -> None:
    _edit(sharing_file, "      key: seats\n", "      key: seats\n      vat_exemption_reason: steuerfrei\n")
    with pytest.raises(InputError, match="free-text VAT exemptions are no longer accepted"):
        load_inventory(sharing_file)


def test_other_vat_rate_refused(saas_file: Path) -> None:
    _edit(saas_file, "vat_rate: 19", "vat_rate: 7")
    with pytest.raises(InputError, match="standard rate 19"):
        load_inventory(saas_file)


AT_BILLING = ("      address: {street: Mariahilfer Straße 1, postcode: \"1060\", city: Wien, country: AT}\n"
              "      vat_id: ATU12345675\n"
              "      legal_name: Caritas der Erzdiözese Wien\n")


def test_reverse_charge_for_eu_business(saas_file: Path, official_validator: Validator) -> None:
    _edit(saas_file, KIEL_BILLING, AT_BILLING)
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=official_validator)
    kiel = result.issued[0]
    doc = kiel.document
    assert (doc.vat_category, doc.vat_rate, doc.vat_total, doc.gross_total) == ("AE", Decimal("0"), Decimal("0.00"),
                                                                                doc.net_total)
    xml = kiel.xml_file.read_bytes()
    assert official_validator.validate(xml).fatal == []
    tax = _tax(xml)
    assert (tax.findtext("{*}CategoryCode"), tax.findtext("{*}ExemptionReasonCode")) == ("AE", "VATEX-EU-AE")
    buyer = etree.fromstring(xml).find(".//{*}BuyerTradeParty")
    assert buyer.findtext("{*}SpecifiedTaxRegistration/{*}ID") == "ATU12345675"
    assert buyer.findtext("{*}Name") == "Caritas der Erzdiözese Wien"  # BT-44 legal name
    assert buyer.findtext("{*}SpecifiedLegalOrganization/{*}TradingBusinessName") == "AWO Beratungsstelle Kiel"
    text = PdfReader(str(kiel.pdf_file)).pages[0].extract_text()
    assert "Steuerschuldnerschaft des Leistungsempfängers" in text and "ATU12345675" in text and "DE136695976" in text
    assert [i.document.vat_category for i in result.issued[1:]] == ["S", "S"]


@pytest.mark.parametrize(("billing", "message"), [
    (AT_BILLING.replace("      vat_id: ATU12345675\n", ""), "without billing.vat_id"),
    (AT_BILLING.replace("country: AT", "country: CH").replace("      vat_id: ATU12345675\n", ""), "outside the EU"),
    (AT_BILLING.replace("ATU12345675", "FR12345678901"), "does not belong"),
])
def test_foreign_buyers_that_cannot_be_billed(saas_file: Path, billing: str, message: str) -> None:
    _edit(saas_file, KIEL_BILLING, billing)
    with pytest.raises(TaxError, match=f"awo-kiel: .*{message}"):
        _docs(saas_file)


def test_kleinunternehmer_declared(saas_file: Path, official_validator: Validator) -> None:
    conditions = "".join(f"        {key}: true\n" for key, _ in EXEMPTIONS["ustg_19"].conditions)
    _edit(saas_file, "    payment_terms_days: 14\n", "    payment_terms_days: 14\n    vat_exemption:\n"
          "      basis: ustg_19\n      declared_by: Anna Petersen\n      declared_on: 2026-01-02\n"
          "      conditions:\n" + conditions)
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=official_validator)
    for issued in result.issued:
        assert issued.document.vat_total == Decimal("0.00") and issued.document.vat_category == "E"
        assert official_validator.validate(issued.xml_file.read_bytes()).fatal == []
        assert "§ 19 Abs. 1 UStG" in _tax(issued.xml_file.read_bytes()).findtext("{*}ExemptionReason")


def test_run_reports_tax_problem_at_tenant(saas_file: Path, any_validator: Validator) -> None:
    _edit(saas_file, KIEL_BILLING, AT_BILLING.replace("      vat_id: ATU12345675\n", ""))
    with pytest.raises(InputError) as caught:
        run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    problem = caught.value.problems[0]
    assert problem.line > 0 and "tenants[0].billing" in str(problem) and "awo-kiel" in str(problem)
