"""PDF/A-3b as far as independent tools here can check it: poppler's pdffonts, qpdf, pypdf (no veraPDF)."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from counselkit.billing.cii import XRECHNUNG_CIUS
from counselkit.billing.pdf import ATTACHMENT, embed_xml, render_pdf
from counselkit.billing.period import Period
from counselkit.billing.run import credit_note, run_period
from counselkit.billing.validate import Validator

NOV = Period.parse("2026-11")
ISSUE = date(2026, 12, 1)
NS = {"x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
      "pdfaid": "http://www.aiim.org/pdfa/ns/id/", "dc": "http://purl.org/dc/elements/1.1/",
      "pdf": "http://ns.adobe.com/pdf/1.3/", "xmp": "http://ns.adobe.com/xap/1.0/",
      "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not installed; scripts/counselkit installs it (Debian qpdf / poppler-utils)")
    return path


@pytest.fixture
def pdfs(saas_file: Path, any_validator: Validator) -> list[Path]:
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    note = credit_note(saas_file, "RE-000001", "Storno", issue_date=date(2026, 12, 2), validator=any_validator)
    return [i.pdf_file for i in result.issued] + [note.pdf_file]


def test_every_font_embedded(pdfs: list[Path]) -> None:
    for pdf in pdfs:
        out = subprocess.run([_tool("pdffonts"), str(pdf)], capture_output=True, text=True, check=True).stdout
        rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
        assert rows, out
        for row in rows:  # columns: name type encoding emb sub uni object ID (type may be two words)
            assert row[-5] == "yes", f"{pdf.name}: font {row[0]} not embedded\n{out}"
        assert "Helvetica" not in out


def test_qpdf_finds_no_errors(pdfs: list[Path]) -> None:
    for pdf in pdfs:
        result = subprocess.run([_tool("qpdf"), "--check", str(pdf)], capture_output=True, text=True)
        assert result.returncode == 0 and "No syntax or stream encoding errors" in result.stdout, result.stdout


def test_output_intent_is_srgb(pdfs: list[Path]) -> None:
    for pdf in pdfs:
        root = PdfReader(str(pdf)).trailer["/Root"]
        (intent,) = [i.get_object() for i in root["/OutputIntents"]]
        assert intent["/S"] == "/GTS_PDFA1" and "sRGB" in intent["/OutputConditionIdentifier"]
        profile = intent["/DestOutputProfile"].get_object()
        data = profile.get_data()
        assert profile["/N"] == 3 and data[12:20] == b"mntrRGB " and data[36:40] == b"acsp"


def _xmp(reader: PdfReader) -> etree._Element:
    stream = reader.trailer["/Root"]["/Metadata"].get_object()
    assert "/Filter" not in stream  # PDF/A: the XMP stays readable without decoding
    return etree.fromstring(stream.get_data().split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])


def test_xmp_matches_info_and_embedded_xml(pdfs: list[Path]) -> None:
    for pdf in pdfs:
        reader = PdfReader(str(pdf))
        info, xmp = reader.metadata, _xmp(reader)
        text = lambda path: xmp.findtext(path, namespaces=NS)  # noqa: E731
        assert (text(".//pdfaid:part"), text(".//pdfaid:conformance")) == ("3", "B")
        assert text(".//dc:title/rdf:Alt/rdf:li") == info["/Title"]
        assert text(".//dc:creator/rdf:Seq/rdf:li") == info["/Author"]
        assert text(".//dc:description/rdf:Alt/rdf:li") == info["/Subject"]
        assert text(".//pdf:Producer") == info["/Producer"] and text(".//pdf:Keywords") == info["/Keywords"]
        assert text(".//xmp:CreatorTool") == info["/Creator"]
        number = pdf.stem
        issue = "2026-12-02" if number == "RE-000004" else "2026-12-01"
        assert text(".//xmp:CreateDate") == text(".//xmp:ModifyDate") == f"{issue}T00:00:00+00:00"
        assert info["/CreationDate"] == info["/ModDate"] == f"D:{issue.replace('-', '')}000000+00'00'"
        # ZUGFeRD: the level names the profile of the attached XML, and the file name is that profile's
        assert text(".//fx:DocumentFileName") == ATTACHMENT == "xrechnung.xml"
        assert text(".//fx:ConformanceLevel") == "XRECHNUNG" and text(".//fx:DocumentType") == "INVOICE"
        xml = reader.attachments[ATTACHMENT][0]
        guideline = etree.fromstring(xml).findtext(".//{*}GuidelineSpecifiedDocumentContextParameter/{*}ID")
        assert guideline == XRECHNUNG_CIUS and guideline.endswith("xrechnung_3.0")
        assert xml == (pdf.parent / f"{number}.xml").read_bytes()


def test_attachment_is_an_associated_file(pdfs: list[Path]) -> None:
    root = PdfReader(str(pdfs[0])).trailer["/Root"]
    (spec,) = [f.get_object() for f in root["/AF"]]
    assert spec["/AFRelationship"] == "/Alternative" and spec["/UF"] == ATTACHMENT
    embedded = spec["/EF"]["/F"].get_object()
    assert embedded["/Subtype"] == "/text/xml" and "/ModDate" in embedded["/Params"]


def test_rendering_is_reproducible(saas_file: Path, any_validator: Validator) -> None:
    """The same document renders to the same bytes later: no clock time anywhere in the file."""
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    issued = result.issued[0]
    xml = issued.xml_file.read_bytes()
    time.sleep(1.1)
    again = embed_xml(render_pdf(issued.document), xml, issued.document)
    assert again == issued.pdf_file.read_bytes()
    reader = PdfReader(str(issued.pdf_file))
    ids = reader.trailer["/ID"]
    assert len(ids) == 2 and ids[0] and ids[1]
