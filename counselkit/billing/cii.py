"""Render a document as XRechnung 3.0 CII (UN/CEFACT Cross Industry Invoice D16B), EN 16931 compliant."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from .document import Document, Party
from .money import cents

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}

XRECHNUNG_CIUS = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
TYPE_CODES = {"invoice": "380", "credit_note": "381"}
SEPA_CREDIT_TRANSFER = "58"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", **attrs)
    if text is not None:
        element.text = text
    return element


def _amount(value: Decimal) -> str:
    return str(cents(value))


def _number(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _date(parent: etree._Element, tag: str, day: date, qualified: bool = False) -> None:
    holder = _el(parent, tag)
    _el(holder, "qdt:DateTimeString" if qualified else "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def _party(parent: etree._Element, tag: str, party: Party, with_contact: bool) -> None:
    node = _el(parent, tag)
    _el(node, "ram:Name", party.name)
    trading_name = getattr(party, "trading_name", None)
    if trading_name:  # BT-45
        _el(_el(node, "ram:SpecifiedLegalOrganization"), "ram:TradingBusinessName", trading_name)
    if with_contact:
        contact = _el(node, "ram:DefinedTradeContact")
        _el(contact, "ram:PersonName", party.contact_name or party.name)
        if party.phone:
            _el(_el(contact, "ram:TelephoneUniversalCommunication"), "ram:CompleteNumber", party.phone)
        _el(_el(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.email)
    address = _el(node, "ram:PostalTradeAddress")
    _el(address, "ram:PostcodeCode", party.postcode)
    _el(address, "ram:LineOne", party.street)
    _el(address, "ram:CityName", party.city)
    _el(address, "ram:CountryID", party.country)
    _el(_el(node, "ram:URIUniversalCommunication"), "ram:URIID", party.email, schemeID="EM")
    if party.vat_id:
        _el(_el(node, "ram:SpecifiedTaxRegistration"), "ram:ID", party.vat_id, schemeID="VA")
    if party.tax_number:
        _el(_el(node, "ram:SpecifiedTaxRegistration"), "ram:ID", party.tax_number, schemeID="FC")


def _tax(parent: etree._Element, doc: Document, basis: Decimal | None = None) -> None:
    tax = _el(parent, "ram:ApplicableTradeTax")
    if basis is not None:
        _el(tax, "ram:CalculatedAmount", _amount(doc.vat_total))
    _el(tax, "ram:TypeCode", "VAT")
    if basis is not None and doc.vat_category != "S":
        _el(tax, "ram:ExemptionReason", doc.vat_exemption_reason or "")
    if basis is not None:
        _el(tax, "ram:BasisAmount", _amount(basis))
    _el(tax, "ram:CategoryCode", doc.vat_category)
    if basis is not None and doc.vat_category != "S" and doc.vat_exemption_code:
        _el(tax, "ram:ExemptionReasonCode", doc.vat_exemption_code)
    _el(tax, "ram:RateApplicablePercent", _number(doc.vat_rate))


def render_cii(doc: Document) -> bytes:
    """The XML as UTF-8 bytes. Deterministic: the same document always gives the same bytes."""
    if not doc.number:
        raise ValueError("a document needs its ledger number before it can be rendered")
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID", PEPPOL_PROCESS)
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", XRECHNUNG_CIUS)

    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", doc.number)
    _el(header, "ram:TypeCode", TYPE_CODES[doc.kind])
    _date(header, "ram:IssueDateTime", doc.issue_date)
    for note in _notes(doc):
        holder = _el(header, "ram:IncludedNote")
        _el(holder, "ram:Content", note[1])
        if note[0]:
            _el(holder, "ram:SubjectCode", note[0])

    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    for line in doc.lines:
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        line_doc = _el(item, "ram:AssociatedDocumentLineDocument")
        _el(line_doc, "ram:LineID", line.line_id)
        _el(_el(line_doc, "ram:IncludedNote"), "ram:Content", line.detail)
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description)
        agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
        _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", _number(line.unit_price))
        _el(_el(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", _number(line.quantity),
            unitCode=line.unit)
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        _tax(settlement, doc)
        period = _el(settlement, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", doc.service_start)
        _date(period, "ram:EndDateTime", doc.service_end)
        _el(_el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount",
            _amount(line.net))

    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    _el(agreement, "ram:BuyerReference", doc.buyer_reference)
    _party(agreement, "ram:SellerTradeParty", doc.seller, with_contact=True)
    _party(agreement, "ram:BuyerTradeParty", doc.buyer, with_contact=bool(doc.buyer.contact_name))
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")

    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:PaymentReference", doc.number)
    _el(settlement, "ram:InvoiceCurrencyCode", doc.currency)
    if doc.kind == "invoice":
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", SEPA_CREDIT_TRANSFER)
        _el(_el(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID", doc.seller.iban)
        if doc.seller.bic:
            _el(_el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", doc.seller.bic)
    else:  # the credit is paid back to the customer; BR-DE-1 still wants payment instructions
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", "1")  # UNTDID 4461 "instrument not defined": the operator refunds
    _tax(settlement, doc, basis=doc.net_total)
    period = _el(settlement, "ram:BillingSpecifiedPeriod")
    _date(period, "ram:StartDateTime", doc.service_start)
    _date(period, "ram:EndDateTime", doc.service_end)
    terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
    _el(terms, "ram:Description", payment_terms_text(doc))
    if doc.kind == "invoice":
        _date(terms, "ram:DueDateDateTime", doc.due_date)
    totals = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(totals, "ram:LineTotalAmount", _amount(doc.net_total))
    _el(totals, "ram:TaxBasisTotalAmount", _amount(doc.net_total))
    _el(totals, "ram:TaxTotalAmount", _amount(doc.vat_total), currencyID=doc.currency)
    _el(totals, "ram:GrandTotalAmount", _amount(doc.gross_total))
    _el(totals, "ram:DuePayableAmount", _amount(doc.gross_total))
    if doc.preceding_number:
        ref = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(ref, "ram:IssuerAssignedID", doc.preceding_number)
        if doc.preceding_date:
            _date(ref, "ram:FormattedIssueDateTime", doc.preceding_date, qualified=True)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def payment_terms_text(doc: Document) -> str:
    if doc.kind == "credit_note":
        return f"Der Betrag wird Ihnen auf Ihr bekanntes Konto erstattet bzw. mit offenen Forderungen verrechnet."
    return (f"Zahlbar ohne Abzug innerhalb von {doc.payment_terms_days} Tagen bis zum {doc.due_date:%d.%m.%Y} "
            f"auf das Konto IBAN {doc.seller.iban} unter Angabe der Rechnungsnummer {doc.number}.")


def _notes(doc: Document) -> list[tuple[str, str]]:
    """(UNTDID 4451 subject code or "", text). REG: seller's legal data; AAK/TXD: tax notes."""
    notes: list[tuple[str, str]] = []
    seller = doc.seller
    legal = [seller.name]
    if seller.managing_director:
        legal.append(f"Geschäftsführung: {seller.managing_director}")
    if seller.commercial_register:
        legal.append(seller.commercial_register)
    notes.append(("REG", ", ".join(legal)))
    if doc.vat_category != "S" and doc.vat_exemption_reason:
        notes.append(("AAK", doc.vat_exemption_reason))
    if doc.kind == "credit_note":
        notes.append(("", f"Rechnungskorrektur zur Rechnung {doc.preceding_number} vom "
                          f"{doc.preceding_date:%d.%m.%Y}. Grund: {doc.correction_reason}"))
    notes.extend(("", note) for note in doc.notes)
    return notes
