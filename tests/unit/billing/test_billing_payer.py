"""A consolidated payer: an umbrella body that pays for several centres gets one invoice listing them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

import counselkit.billing.run as run_module
from counselkit.billing.period import Period
from counselkit.billing.run import run_period
from counselkit.billing.usage import GB, StorageUsage
from counselkit.billing.validate import Validator
from counselkit.problems import InputError

NOV = Period.parse("2026-11")
ISSUE = date(2026, 12, 1)
PAYERS = """    payers:
      diakonie-sh:
        name: Diakonie Schleswig-Holstein
        legal_name: Diakonisches Werk Schleswig-Holstein e. V.
        address: {street: Kanalufer 48, postcode: "24768", city: Rendsburg}
        email: rechnungen@diakonie-sh.example
        leitweg_id: 991-99012-32
"""


def _paid_by_umbrella(path: Path) -> Path:
    text = path.read_text(encoding="utf-8")
    text = text.replace("    payment_terms_days: 14\n", "    payment_terms_days: 14\n" + PAYERS)
    for email in ("rechnungseingang@diakonie-luebeck.example", "verwaltung@skf-husum.example"):
        text = text.replace(f"      email: {email}\n", f"      email: {email}\n      payer: diakonie-sh\n")
    path.write_text(text, encoding="utf-8")
    return path


def test_one_invoice_for_the_payer(saas_file: Path, official_validator: Validator) -> None:
    result = run_period(_paid_by_umbrella(saas_file), NOV, issue_date=ISSUE, validator=official_validator)
    assert [(i.document.number, i.document.buyer.slug) for i in result.issued] == [
        ("RE-000001", "awo-kiel"), ("RE-000002", "payer-diakonie-sh")]
    doc = result.issued[1].document
    assert (doc.net_total, doc.vat_total, doc.gross_total) == (Decimal("221.50"), Decimal("42.09"), Decimal("263.59"))
    assert [line.line_id for line in doc.lines] == ["1", "2", "3", "4", "5", "6"]
    assert doc.lines[0].description.startswith("Diakonisches Werk Lübeck")
    assert doc.lines[3].description.startswith("Sozialdienst katholischer Frauen Husum")
    assert (doc.service_start, doc.service_end) == (date(2026, 11, 1), date(2026, 11, 30))
    xml = result.issued[1].xml_file.read_bytes()
    assert official_validator.validate(xml).fatal == []
    tree = etree.fromstring(xml)
    assert tree.findtext(".//{*}BuyerReference") == "991-99012-32"
    assert tree.findtext(".//{*}BuyerTradeParty/{*}Name") == "Diakonisches Werk Schleswig-Holstein e. V."
    text = "".join(page.extract_text() for page in PdfReader(str(result.issued[1].pdf_file)).pages)
    assert "Sammelrechnung für" in text and "skf-husum" in text and "diakonie-luebeck" in text


def test_payer_invoice_reproduced_with_recorded_storage(saas_file: Path, any_validator: Validator,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _paid_by_umbrella(saas_file)
    sizes = {"awo-kiel": 0, "diakonie-luebeck": 12 * GB, "skf-husum": 11 * GB}
    monkeypatch.setattr(run_module, "storage_usage", lambda *a, **k: StorageUsage("backup-status", dict(sizes)))
    first = run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator).issued[1].document
    assert first.centres == (("diakonie-luebeck", 12 * GB), ("skf-husum", 11 * GB))
    assert [line.net for line in first.lines if "Speicher" in line.description] == [Decimal("0.80"), Decimal("0.40")]
    sizes.update({"diakonie-luebeck": 30 * GB})
    again = run_period(saas_file, NOV, issue_date=date(2027, 1, 2), validator=any_validator)
    assert not any(i.new for i in again.issued)


def test_unknown_payer_refused(saas_file: Path, any_validator: Validator) -> None:
    _paid_by_umbrella(saas_file)
    saas_file.write_text(saas_file.read_text(encoding="utf-8").replace("payer: diakonie-sh\n", "payer: caritas-sh\n", 1),
                         encoding="utf-8")
    with pytest.raises(InputError, match="billing.payer 'caritas-sh' is not in platform.pricing.payers"):
        run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
