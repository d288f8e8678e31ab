"""The invoice document: every figure and party detail of one invoice or credit note, as plain data.

A document is computed once, numbered by the ledger and stored there; XML, PDF and CSV are rendered from it,
so a re-run or a credit note reproduces exactly what was issued, even after tenants.yaml changed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from .money import cents

Kind = Literal["invoice", "credit_note"]


@dataclass(frozen=True)
class Party:
    name: str
    street: str
    postcode: str
    city: str
    country: str
    email: str
    contact_name: str | None = None
    phone: str | None = None
    vat_id: str | None = None
    tax_number: str | None = None


@dataclass(frozen=True)
class Seller(Party):
    iban: str = ""
    bic: str | None = None
    bank: str | None = None
    commercial_register: str | None = None
    managing_director: str | None = None


@dataclass(frozen=True)
class Buyer(Party):
    slug: str = ""
    cost_centre: str | None = None
    buyer_reference: str | None = None  # as given in tenants.yaml; None when not given
    leitweg_id: str | None = None  # checked Leitweg-ID of a public-sector buyer
    trading_name: str | None = None  # BT-45: the centre's name when `name` is its legal entity (BT-44)


@dataclass(frozen=True)
class Line:
    line_id: str
    description: str
    detail: str  # how the figure was derived, printed under the description and sent as line note
    quantity: Decimal
    unit: str  # UN/ECE Rec 20: C62 one, MON month, E34 gigabyte
    unit_price: Decimal  # net, per unit, already prorated and rounded to cents
    net: Decimal  # quantity * unit_price, cents

    def __post_init__(self) -> None:
        if self.net != cents(self.quantity * self.unit_price):
            raise ValueError(f"line {self.line_id}: net {self.net} is not quantity x price")


@dataclass(frozen=True)
class Document:
    kind: Kind
    number: str  # "" until the ledger assigns it
    issue_date: date
    due_date: date
    period: str  # YYYY-MM
    service_start: date  # Leistungszeitraum, inclusive
    service_end: date
    seller: Seller
    buyer: Buyer
    currency: str
    lines: tuple[Line, ...]
    vat_category: Literal["S", "E", "AE"]  # S standard rate, E exempt, AE reverse charge (counselkit.billing.tax)
    vat_rate: Decimal
    vat_exemption_reason: str | None  # the basis's German note (BT-120), never free text from tenants.yaml
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal
    payment_terms_days: int
    mode: str  # saas | cost_sharing
    notes: tuple[str, ...] = ()
    storage_measured: bool = False
    preceding_number: str | None = None  # credit note: the corrected invoice
    preceding_date: date | None = None
    correction_reason: str | None = None
    vat_basis: str = "standard"  # key in counselkit.billing.tax.BASES
    vat_exemption_code: str | None = None  # BT-121 VATEX code
    storage_bytes: int | None = None  # saas: the measured usage billed, stored with the invoice
    centres: tuple[tuple[str, int | None], ...] = ()  # consolidated payer invoice: (slug, storage bytes) listed

    @property
    def buyer_reference(self) -> str:
        """BT-10 (mandatory in XRechnung): the Leitweg-ID, else the buyer reference, else cost centre, else slug."""
        return self.buyer.leitweg_id or self.buyer.buyer_reference or self.buyer.cost_centre or self.buyer.slug

    def numbered(self, number: str, issue_date: date, due_date: date) -> "Document":
        return replace(self, number=number, issue_date=issue_date, due_date=due_date)

    # --- plain JSON for the ledger -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Document":
        values = dict(data)
        values["seller"] = Seller(**values["seller"])
        values["buyer"] = Buyer(**values["buyer"])
        values["lines"] = tuple(
            Line(**{**line, "quantity": Decimal(line["quantity"]), "unit_price": Decimal(line["unit_price"]),
                    "net": Decimal(line["net"])})
            for line in values["lines"]
        )
        for key in ("issue_date", "due_date", "service_start", "service_end", "preceding_date"):
            if values.get(key):
                values[key] = date.fromisoformat(values[key])
        for key in ("vat_rate", "net_total", "vat_total", "gross_total"):
            values[key] = Decimal(values[key])
        values["notes"] = tuple(values.get("notes", ()))
        values["centres"] = tuple((str(slug), size) for slug, size in values.get("centres", ()))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def content_key(self) -> str:
        """Canonical text of what was billed (without number and dates), to compare a re-run with the record."""
        body = self.to_json()
        for key in ("number", "issue_date", "due_date"):
            body.pop(key)
        return json.dumps(body, sort_keys=True, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
