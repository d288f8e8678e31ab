"""The human-readable invoice (German, DIN 5008-like layout) as PDF, with the e-invoice XML embedded.

The PDF is drawn with reportlab using the bundled DejaVu Sans (German glyphs, embedded in the file); the
validated XRechnung CII XML is then embedded as xrechnung.xml (ZUGFeRD profile XRECHNUNG) with pikepdf, which
also writes what PDF/A-3b needs: sRGB OutputIntent, XMP matching the Info dictionary, fixed dates and ID.
"""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
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
    # Not "Gutschrift": in German VAT law that word means self-billing by the customer (§ 14 Abs. 2 Satz 2 UStG),
    # and calling a seller's correction so can itself create a tax liability. A seller's full cancellation is a
    # Rechnungskorrektur (Stornorechnung), with every amount negative.
    return "Rechnungskorrektur (Stornorechnung)" if doc.kind == "credit_note" else "Rechnung"


def _signed(doc: Document, amount: Decimal, currency: str = "") -> str:
    """Amounts of a correction are printed negative: they reverse the corrected invoice."""
    return de(-amount if doc.kind == "credit_note" and amount else amount, currency)


def render_pdf(doc: Document) -> bytes:
    """The visual invoice as plain PDF bytes (deterministic: reportlab's invariant mode)."""
    _fonts()
    buffer = io.BytesIO()
    seller = doc.seller
    story: list = []
    pdf = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=25 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=28 * mm, title=f"{title_of(doc)} {doc.number}", author=seller.name,
                            invariant=1, lang="de-DE", initialFontName=FONT, initialFontSize=9)
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
        ("Nr. der Rechnungskorrektur" if doc.kind == "credit_note" else "Rechnungsnummer", doc.number),
        ("Datum der Rechnungskorrektur" if doc.kind == "credit_note" else "Rechnungsdatum", f"{doc.issue_date:%d.%m.%Y}"),
        ("Leistungszeitraum", f"{doc.service_start:%d.%m.%Y} – {doc.service_end:%d.%m.%Y}"),
        ("Kundennummer", buyer.slug),
    ]
    if buyer.leitweg_id:
        facts.append(("Leitweg-ID", buyer.leitweg_id))
    if buyer.buyer_reference:
        facts.append(("Ihre Referenz", buyer.buyer_reference))
    if buyer.cost_centre:
        facts.append(("Kostenstelle", buyer.cost_centre))
    if doc.kind == "credit_note":
        facts.append(("Korrektur zu Rechnung Nr.", f"{doc.preceding_number} vom {doc.preceding_date:%d.%m.%Y}"))
    if seller.vat_id:
        facts.append(("USt-IdNr. des Leistenden", seller.vat_id))
    if buyer.vat_id:  # § 14a Abs. 1 UStG: reverse-charge invoices name both VAT IDs
        facts.append(("USt-IdNr. des Leistungsempfängers", buyer.vat_id))
    if seller.tax_number:
        facts.append(("Steuernummer des Leistenden", seller.tax_number))
    fact_table = Table([[Paragraph(_esc(k), _style(9)), Paragraph(_esc(v), _style(9, bold=True))] for k, v in facts],
                       colWidths=[55 * mm, 110 * mm])
    fact_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("FONTNAME", (0, 0), (-1, -1), FONT), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
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
            Paragraph(_signed(doc, line.net), right),
        ])
    currency = doc.currency
    rows.append(["", Paragraph("Nettobetrag", _style(9)), "", "", Paragraph(_signed(doc, doc.net_total, currency), right)])
    if doc.vat_category == "S":
        rows.append(["", Paragraph(f"Umsatzsteuer {de_number(doc.vat_rate)} %", _style(9)), "", "",
                     Paragraph(_signed(doc, doc.vat_total, currency), right)])
    elif doc.vat_category == "AE":
        rows.append(["", Paragraph("Umsatzsteuer 0 % – Steuerschuldnerschaft des Leistungsempfängers", _style(9)),
                     "", "", Paragraph(_signed(doc, doc.vat_total, currency), right)])
    else:
        rows.append(["", Paragraph(f"Umsatzsteuer 0 % – steuerfrei: {_esc(doc.vat_exemption_reason or '')}", _style(9)),
                     "", "", Paragraph(_signed(doc, doc.vat_total, currency), right)])
    label = "Korrekturbetrag (wird erstattet)" if doc.kind == "credit_note" else "Gesamtbetrag"
    rows.append(["", Paragraph(label, _style(10, bold=True)), "", "",
                 Paragraph(_signed(doc, doc.gross_total, currency), _style(10, bold=True, align=2))])
    table = Table(rows, colWidths=[11 * mm, 79 * mm, 20 * mm, 25 * mm, 30 * mm], repeatRows=1)
    last = len(rows) - 1
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("FONTNAME", (0, 0), (-1, -1), FONT),  # also for empty cells
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
    this = "Diese Rechnungskorrektur" if doc.kind == "credit_note" else "Diese Rechnung"
    story.append(Paragraph(f"{this} enthält die strukturierten Rechnungsdaten (XRechnung, EN 16931) als "
                           "eingebettete Datei xrechnung.xml (ZUGFeRD-Profil XRECHNUNG).", _style(7.5)))

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


# The sRGB profile for the PDF/A OutputIntent: Debian's icc-profiles-free (in scripts/counselkit's apt list).
SRGB_PROFILES = (Path("/usr/share/color/icc/sRGB.icc"), Path("/usr/share/color/icc/colord/sRGB.icc"))
ATTACHMENT = "xrechnung.xml"  # ZUGFeRD 2.x profile XRECHNUNG: this file name and fx:ConformanceLevel XRECHNUNG
CONFORMANCE_LEVEL = "XRECHNUNG"
PRODUCER = "counselkit (reportlab, pikepdf)"
FX_NS = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"


def srgb_profile() -> bytes:
    for path in SRGB_PROFILES:
        if path.is_file():
            return path.read_bytes()
    raise FileNotFoundError("no sRGB ICC profile for the PDF/A OutputIntent; install Debian package icc-profiles-free "
                            f"(looked for {', '.join(map(str, SRGB_PROFILES))})")


def pdf_info(doc: Document) -> dict[str, str]:
    """The document information, identical in the Info dictionary and the XMP (PDF/A requires them to match)."""
    return {"title": f"{doc.seller.name}: {title_of(doc)} {doc.number}", "author": doc.seller.name,
            "subject": f"{title_of(doc)} {doc.number} vom {doc.issue_date:%d.%m.%Y}",
            "keywords": "XRechnung, ZUGFeRD, Factur-X, e-invoice", "creator": "counselkit billing",
            "producer": PRODUCER}


def embed_xml(pdf: bytes, xml: bytes, doc: Document) -> bytes:
    """PDF/A-3b with the XRechnung XML attached (ZUGFeRD profile XRECHNUNG), byte for byte reproducible.

    Every date is the issue date (midnight UTC), the file ID is derived from the content (qpdf's deterministic
    ID), so rendering the same document again gives the same bytes, which lets a run verify an original
    instead of rewriting it."""
    import pikepdf
    from pikepdf import Array, Dictionary, Name, String

    info = pdf_info(doc)
    stamp = doc.issue_date.strftime("D:%Y%m%d000000+00'00'")
    with pikepdf.open(io.BytesIO(pdf)) as target:
        target.docinfo = target.make_indirect(Dictionary({"/Title": String(info["title"]), "/Author": String(info["author"]),
                                     "/Subject": String(info["subject"]), "/Keywords": String(info["keywords"]),
                                     "/Creator": String(info["creator"]), "/Producer": String(info["producer"]),
                                     "/CreationDate": String(stamp), "/ModDate": String(stamp)}))
        icc = pikepdf.Stream(target, srgb_profile())
        icc["/N"] = 3
        target.Root.OutputIntents = Array([Dictionary({
            "/Type": Name.OutputIntent, "/S": Name.GTS_PDFA1, "/OutputConditionIdentifier": String("sRGB IEC61966-2.1"),
            "/Info": String("sRGB IEC61966-2.1"), "/DestOutputProfile": target.make_indirect(icc)})])
        payload = pikepdf.Stream(target, xml)
        payload["/Type"] = Name.EmbeddedFile
        payload["/Subtype"] = Name("/text/xml")
        payload["/Params"] = Dictionary({"/ModDate": String(stamp), "/Size": len(xml),
                                         "/CheckSum": String(hashlib.md5(xml).digest())})  # noqa: S324 - PDF spec
        filespec = target.make_indirect(Dictionary({
            "/Type": Name.Filespec, "/F": String(ATTACHMENT), "/UF": String(ATTACHMENT),
            "/Desc": String(f"XRechnung {doc.number}"), "/AFRelationship": Name.Alternative,
            "/EF": Dictionary({"/F": target.make_indirect(payload), "/UF": target.make_indirect(payload)})}))
        target.Root.AF = Array([filespec])
        target.Root.Names = Dictionary({"/EmbeddedFiles": Dictionary({"/Names": Array([String(ATTACHMENT), filespec])})})
        target.Root.MarkInfo = Dictionary({"/Marked": False})
        metadata = pikepdf.Stream(target, xmp(doc, info).encode("utf-8"))
        metadata["/Type"] = Name.Metadata
        metadata["/Subtype"] = Name.XML
        target.Root.Metadata = target.make_indirect(metadata)  # uncompressed, as PDF/A requires
        out = io.BytesIO()
        target.save(out, deterministic_id=True, fix_metadata_version=False, compress_streams=False,
                    stream_decode_level=pikepdf.StreamDecodeLevel.none, force_version="1.7")
    return out.getvalue()


def xmp(doc: Document, info: dict[str, str]) -> str:
    """XMP packet: PDF/A-3B identification, the Info entries, and the ZUGFeRD/Factur-X extension schema."""
    when = f"{doc.issue_date.isoformat()}T00:00:00+00:00"
    e = _xml_escape
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>3</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{e(info["title"])}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{e(info["author"])}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{e(info["subject"])}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdf:Producer>{e(info["producer"])}</pdf:Producer>
   <pdf:Keywords>{e(info["keywords"])}</pdf:Keywords>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:CreatorTool>{e(info["creator"])}</xmp:CreatorTool>
   <xmp:CreateDate>{when}</xmp:CreateDate>
   <xmp:ModifyDate>{when}</xmp:ModifyDate>
   <xmp:MetadataDate>{when}</xmp:MetadataDate>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:fx="{FX_NS}">
   <fx:DocumentType>INVOICE</fx:DocumentType>
   <fx:DocumentFileName>{ATTACHMENT}</fx:DocumentFileName>
   <fx:Version>1.0</fx:Version>
   <fx:ConformanceLevel>{CONFORMANCE_LEVEL}</fx:ConformanceLevel>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
    xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
   <pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">
    <pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
    <pdfaSchema:namespaceURI>{FX_NS}</pdfaSchema:namespaceURI>
    <pdfaSchema:prefix>fx</pdfaSchema:prefix>
    <pdfaSchema:property><rdf:Seq>
{_fx_property("DocumentFileName", "The name of the embedded XML document")}
{_fx_property("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER")}
{_fx_property("Version", "The actual version of the standard applying to the embedded XML document")}
{_fx_property("ConformanceLevel", "The conformance level of the embedded XML document")}
    </rdf:Seq></pdfaSchema:property>
   </rdf:li></rdf:Bag></pdfaExtension:schemas>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def _fx_property(name: str, description: str) -> str:
    return (f'     <rdf:li rdf:parseType="Resource"><pdfaProperty:name>{name}</pdfaProperty:name>'
            f"<pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external"
            f"</pdfaProperty:category><pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>")


def _xml_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))
