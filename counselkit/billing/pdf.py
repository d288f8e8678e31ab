"""The human-readable invoice (German, DIN 5008-like layout) as PDF, with the e-invoice XML embedded.

The PDF is drawn with reportlab using the bundled DejaVu Sans (German glyphs, embedded in the file); the
validated XRechnung CII XML is then embedded as factur-x.xml with the `factur-x` package (PDF/A-3 attachment
and XMP metadata, Factur-X/ZUGFeRD profile EN 16931).
"""

from __future__ import annotations

import io
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .cii import payment_terms_text
from .document import Document
from .money import de, de_number

FONT_DIR = Path(__file__).parent / "fonts"
FONT, FONT_BOLD = "CKDejaVuSans", "CKDejaVuSans-Bold"
UNITS = {"C62": "Stk.", "MON": "Monat", "E34": "GB"}
_registered = False


def _fonts() -> None:
    global _registered
    if _registered:
        return
    for name, file in ((FONT, "DejaVuSans.ttf"), (FONT_BOLD, "DejaVuSans-Bold.ttf")):
        path = FONT_DIR / file
        if not path.exists():  # a stripped install: fall back to Debian's fonts-dejavu-core
            path = Path("/usr/share/fonts/truetype/dejavu") / file
        if not path.exists():
            raise FileNotFoundError(f"font {file} not found; install Debian package fonts-dejavu-core")
        pdfmetrics.registerFont(TTFont(name, str(path)))
    _registered = True


def _style(size: float = 9, bold: bool = False, align: int = 0, leading: float | None = None) -> ParagraphStyle:
    return ParagraphStyle("s", fontName=FONT_BOLD if bold else FONT, fontSize=size, leading=leading or size * 1.3,
                          alignment=align)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def title_of(doc: Document) -> str:
    return "Rechnungskorrektur (Stornorechnung)" if doc.kind == "credit_note" else "Rechnung"


def render_pdf(doc: Document) -> bytes:
    """The visual invoice as plain PDF bytes (deterministic: reportlab's invariant mode)."""
    _fonts()
    buffer = io.BytesIO()
    seller = doc.seller
    story: list = []
    pdf = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=25 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=28 * mm, title=f"{title_of(doc)} {doc.number}", author=seller.name,
                            invariant=1, lang="de-DE")
    letterhead = [f"<b>{_esc(seller.name)}</b>", _esc(seller.street), f"{_esc(seller.postcode)} {_esc(seller.city)}",
                  f"{_esc(seller.contact_name or '')} · {_esc(seller.email)}" + (f" · {_esc(seller.phone)}" if seller.phone else "")]
    story.append(Paragraph("<br/>".join(letterhead), _style(9, align=2)))
    story.append(Spacer(1, 6 * mm))
    story.append(Paragraph(_esc(f"{seller.name} · {seller.street} · {seller.postcode} {seller.city}"), _style(7)))
    buyer = doc.buyer
    address = [_esc(buyer.name)] + ([_esc(buyer.trading_name)] if buyer.trading_name else []) + ([_esc(buyer.contact_name)] if buyer.contact_name else []) + [
        _esc(buyer.street), f"{_esc(buyer.postcode)} {_esc(buyer.city)}"] + ([buyer.country] if buyer.country != "DE" else [])
    story.append(Paragraph("<br/>".join(address), _style(10)))
    story.append(Spacer(1, 10 * mm))
    story.append(Paragraph(_esc(title_of(doc)), _style(15, bold=True)))
    story.append(Spacer(1, 3 * mm))
    facts = [
        ("Rechnungsnummer", doc.number),
        ("Rechnungsdatum", f"{doc.issue_date:%d.%m.%Y}"),
        ("Leistungszeitraum", f"{doc.service_start:%d.%m.%Y} – {doc.service_end:%d.%m.%Y}"),
        ("Kundennummer", buyer.slug),
    ]
    if buyer.buyer_reference:
        facts.append(("Leitweg-ID / Käuferreferenz", buyer.buyer_reference))
    if buyer.cost_centre:
        facts.append(("Kostenstelle", buyer.cost_centre))
    if doc.kind == "credit_note":
        facts.append(("Korrigiert Rechnung", f"{doc.preceding_number} vom {doc.preceding_date:%d.%m.%Y}"))
    if seller.vat_id:
        facts.append(("USt-IdNr. des Leistenden", seller.vat_id))
    if buyer.vat_id:  # § 14a Abs. 1 UStG: reverse-charge invoices name both VAT IDs
        facts.append(("USt-IdNr. des Leistungsempfängers", buyer.vat_id))
    if seller.tax_number:
        facts.append(("Steuernummer des Leistenden", seller.tax_number))
    fact_table = Table([[Paragraph(_esc(k), _style(9)), Paragraph(_esc(v), _style(9, bold=True))] for k, v in facts],
                       colWidths=[55 * mm, 110 * mm])
    fact_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                                    ("TOPPADDING", (0, 0), (-1, -1), 1), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(fact_table)
    story.append(Spacer(1, 6 * mm))
    if doc.kind == "credit_note":
        story.append(Paragraph(_esc(f"Hiermit korrigieren (stornieren) wir die Rechnung {doc.preceding_number} vom "
                                    f"{doc.preceding_date:%d.%m.%Y} in voller Höhe. Grund: {doc.correction_reason}"),
                               _style(9)))
        story.append(Spacer(1, 4 * mm))

    right = _style(9, align=2)
    rows = [[Paragraph(h, _style(9, bold=True, align=a)) for h, a in
             (("Pos.", 0), ("Leistung", 0), ("Menge", 2), ("Einzelpreis netto", 2), ("Betrag netto", 2))]]
    for line in doc.lines:
        rows.append([
            Paragraph(line.line_id, _style(9)),
            Paragraph(f"{_esc(line.description)}<br/><font size=7.5 color='#444444'>{_esc(line.detail)}</font>", _style(9)),
            Paragraph(f"{de_number(line.quantity)} {UNITS.get(line.unit, line.unit)}", right),
            Paragraph(de(line.unit_price) if line.unit_price == line.unit_price.quantize(line.unit_price.__class__("0.01"))
                      else de_number(line.unit_price), right),
            Paragraph(de(line.net), right),
        ])
    currency = doc.currency
    rows.append(["", Paragraph("Nettobetrag", _style(9)), "", "", Paragraph(de(doc.net_total, currency), right)])
    if doc.vat_category == "S":
        rows.append(["", Paragraph(f"Umsatzsteuer {de_number(doc.vat_rate)} %", _style(9)), "", "",
                     Paragraph(de(doc.vat_total, currency), right)])
    elif doc.vat_category == "AE":
        rows.append(["", Paragraph("Umsatzsteuer 0 % – Steuerschuldnerschaft des Leistungsempfängers", _style(9)),
                     "", "", Paragraph(de(doc.vat_total, currency), right)])
    else:
        rows.append(["", Paragraph(f"Umsatzsteuer 0 % – steuerfrei: {_esc(doc.vat_exemption_reason or '')}", _style(9)),
                     "", "", Paragraph(de(doc.vat_total, currency), right)])
    label = "Gutschriftsbetrag (Erstattung)" if doc.kind == "credit_note" else "Gesamtbetrag"
    rows.append(["", Paragraph(label, _style(10, bold=True)), "", "",
                 Paragraph(de(doc.gross_total, currency), _style(10, bold=True, align=2))])
    table = Table(rows, colWidths=[11 * mm, 84 * mm, 20 * mm, 25 * mm, 25 * mm], repeatRows=1)
    last = len(rows) - 1
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ("LINEABOVE", (0, last - 2), (-1, last - 2), 0.6, colors.black),
        ("LINEABOVE", (0, last), (-1, last), 0.6, colors.black),
        ("SPAN", (1, last - 2), (3, last - 2)), ("SPAN", (1, last - 1), (3, last - 1)), ("SPAN", (1, last), (3, last)),
        ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]))
    story.append(table)
    story.append(Spacer(1, 6 * mm))
    if doc.vat_category == "E":
        story.append(Paragraph(_esc(f"Steuerfreie Leistung. {doc.vat_exemption_reason}"), _style(9)))
    elif doc.vat_category == "AE":
        story.append(Paragraph(_esc(f"{doc.vat_exemption_reason}. Die Umsatzsteuer schuldet der Leistungsempfänger."),
                               _style(9)))
    story.append(Paragraph(_esc(("Zahlungsziel: " if doc.kind == "invoice" else "") + payment_terms_text(doc)), _style(9)))
    for note in doc.notes:
        story.append(Paragraph(_esc(note), _style(8)))
    story.append(Paragraph("Diese Rechnung enthält die strukturierten Rechnungsdaten (XRechnung, EN 16931) als "
                           "eingebettete Datei factur-x.xml.", _style(7.5)))

    def footer(canvas, _doc) -> None:  # noqa: ANN001 - reportlab callback
        canvas.saveState()
        canvas.setFont(FONT, 7)
        parts = [seller.name, f"{seller.street}, {seller.postcode} {seller.city}"]
        if seller.managing_director:
            parts.append(f"Geschäftsführung: {seller.managing_director}")
        if seller.commercial_register:
            parts.append(seller.commercial_register)
        bank = [f"IBAN {seller.iban}"] + ([f"BIC {seller.bic}"] if seller.bic else []) + ([seller.bank] if seller.bank else [])
        tax = ([f"USt-IdNr. {seller.vat_id}"] if seller.vat_id else []) + ([f"St.-Nr. {seller.tax_number}"] if seller.tax_number else [])
        canvas.drawString(25 * mm, 18 * mm, " · ".join(parts))
        canvas.drawString(25 * mm, 14 * mm, " · ".join(bank + tax))
        canvas.drawRightString(190 * mm, 10 * mm, f"{doc.number} · Seite {canvas.getPageNumber()}")
        canvas.restoreState()

    pdf.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def embed_xml(pdf: bytes, xml: bytes, doc: Document) -> bytes:
    """PDF/A-3 with the XML attached as factur-x.xml (profile EN 16931), via the factur-x package."""
    from facturx import generate_from_binary

    metadata = {"author": doc.seller.name, "keywords": "Factur-X, ZUGFeRD, XRechnung",
                "title": f"{doc.seller.name}: {title_of(doc)} {doc.number}",
                "subject": f"{title_of(doc)} {doc.number} vom {doc.issue_date:%d.%m.%Y}"}
    return generate_from_binary(pdf, xml, flavor="factur-x", level="en16931", check_xsd=True,
                                pdf_metadata=metadata, lang="de-DE")
