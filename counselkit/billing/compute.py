"""Compute one invoice document per tenant active in the period, in either pricing mode.

Rounding points (all ROUND_HALF_UP to cents, all Decimal):
- saas: each monthly unit price (base fee, fee per seat) is prorated by active days / days in the period and
  rounded to cents; the line is quantity x that price. Storage above quota is charged per started GB at the
  full price (it is measured, not prorated).
- cost_sharing: each cost item is split among the tenants by key weight x active days / days in the period,
  with largest-remainder rounding, so every item's shares add up to the item exactly.
- VAT: net total x rate, rounded to cents once per invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from ..model import Inventory, Tenant
from ..plan import Plan
from .document import Buyer, Document, Line, Seller
from .money import ZERO, cents, de, de_number, split_exact
from .period import Period, Service, active_service
from .tax import TaxBasis, basis_for
from .usage import StorageUsage, started_gb


@dataclass(frozen=True)
class Active:
    tenant: Tenant
    service: Service
    seats: int
    plan_name: str


def terms_on(tenant: Tenant, day: date) -> tuple[str, int]:
    """(plan, seats) valid on `day`: from contract.history while it reaches that day, else today's."""
    past = next((terms for terms in tenant.contract.history if day <= terms.until), None)
    return (past.plan, past.seats) if past else (tenant.contract.plan, tenant.seats)


def active_tenants(plan: Plan, period: Period) -> list[Active]:
    """Tenants with at least one contract day in the period, with the plan and seats valid on their first day
    of service in it (a change during a month applies from the next one). Sorted by slug."""
    result = []
    for tenant_plan in plan.tenants():
        tenant = tenant_plan.tenant
        service = active_service(period, tenant.contract.start, tenant.contract.end)
        if service is not None:
            plan_name, seats = terms_on(tenant, service.start)
            result.append(Active(tenant, service, seats, plan_name))
    return sorted(result, key=lambda a: a.tenant.slug)


def seller_of(inventory: Inventory) -> Seller:
    op = inventory.platform.operator
    return Seller(
        name=op.name, street=op.address.street, postcode=op.address.postcode, city=op.address.city,
        country=op.address.country, email=str(op.contact.email), contact_name=op.contact.name,
        phone=op.contact.phone, vat_id=op.vat_id, tax_number=op.tax_number, iban=op.iban, bic=op.bic,
        bank=op.bank, commercial_register=op.commercial_register, managing_director=op.managing_director,
    )


def buyer_of(tenant: Tenant) -> Buyer:
    billing = tenant.billing
    return Buyer(
        name=billing.legal_name or tenant.name, street=billing.address.street, postcode=billing.address.postcode,
        city=billing.address.city, country=billing.address.country, email=str(billing.email),
        contact_name=billing.contact, vat_id=billing.vat_id, slug=tenant.slug, cost_centre=billing.cost_centre,
        buyer_reference=billing.buyer_reference, leitweg_id=billing.leitweg_id,
        trading_name=tenant.name if billing.legal_name and billing.legal_name != tenant.name else None,
    )


class TenantBillingError(ValueError):
    """A tenant that cannot be billed as tenants.yaml stands (names the tenant)."""

    def __init__(self, slug: str, message: str) -> None:
        super().__init__(f"tenant {slug}: {message}")
        self.slug = slug


class TaxError(TenantBillingError):
    """A tenant that cannot be billed lawfully with the declared bases."""


def tax_basis_of(inventory: Inventory, tenant: Tenant) -> TaxBasis:
    """The closed-list basis for this tenant's invoices: see counselkit.billing.tax.basis_for."""
    declared = inventory.platform.pricing.vat_exemption
    try:
        return basis_for(declared.basis if declared else None, tenant.billing.address.country, tenant.billing.vat_id,
                         inventory.platform.operator.vat_id)
    except ValueError as exc:
        raise TaxError(tenant.slug, str(exc)) from None


def compute_documents(inventory: Inventory, plan: Plan, period: Period, usage: StorageUsage,
                      issue_date: date) -> list[Document]:
    """Unnumbered documents (number "") for every tenant active in `period`, sorted by slug."""
    pricing = inventory.platform.pricing
    active = active_tenants(plan, period)
    if pricing.mode == "saas":
        lines = {a.tenant.slug: _saas_lines(inventory, a, period, usage) for a in active}
    else:
        lines = _cost_sharing_lines(inventory, active, period)
    seller = seller_of(inventory)
    due = issue_date + timedelta(days=pricing.payment_terms_days)
    documents = []
    for a in active:
        tenant_lines = tuple(lines[a.tenant.slug])
        net = sum((line.net for line in tenant_lines), ZERO)
        basis = tax_basis_of(inventory, a.tenant)
        vat = cents(net * basis.rate / 100)
        notes = []
        if pricing.mode == "saas":
            notes.append("Speicherverbrauch: gemessen (backup status)." if usage.measured else
                         "Speicherverbrauch wurde nicht gemessen; Speicher über dem Kontingent wird mit 0 berechnet.")
        documents.append(Document(
            kind="invoice", number="", issue_date=issue_date, due_date=due, period=str(period),
            service_start=a.service.start, service_end=a.service.end, seller=seller, buyer=buyer_of(a.tenant),
            currency=pricing.currency, lines=tenant_lines, vat_category=basis.category, vat_rate=basis.rate,
            vat_exemption_reason=basis.note, net_total=net, vat_total=vat, gross_total=net + vat,
            payment_terms_days=pricing.payment_terms_days, mode=pricing.mode, notes=tuple(notes),
            storage_measured=usage.measured, vat_basis=basis.key, vat_exemption_code=basis.vatex,
            storage_bytes=usage.bytes_for(a.tenant.slug) if pricing.mode == "saas" else None,
        ))
    return _consolidate(inventory, active, documents)


def payer_buyer(key: str, payer) -> Buyer:  # noqa: ANN001 - model.platform.Payer
    return Buyer(
        name=payer.legal_name or payer.name, street=payer.address.street, postcode=payer.address.postcode,
        city=payer.address.city, country=payer.address.country, email=str(payer.email), contact_name=payer.contact,
        vat_id=payer.vat_id, slug=f"payer-{key}", buyer_reference=payer.buyer_reference, leitweg_id=payer.leitweg_id,
        trading_name=payer.name if payer.legal_name and payer.legal_name != payer.name else None,
    )


def _consolidate(inventory: Inventory, active: list[Active], documents: list[Document]) -> list[Document]:
    """Replace the documents of centres with a `billing.payer` by one invoice per payer listing every centre.

    The payer receives the service, so its country and VAT ID decide the tax basis; lines keep each centre's
    figures, prefixed with the centre's name; VAT is computed once on the payer's net total."""
    pricing = inventory.platform.pricing
    tenants = {a.tenant.slug: a.tenant for a in active}
    groups: dict[str, list[Document]] = {}
    result = []
    for doc in documents:
        key = tenants[doc.buyer.slug].billing.payer
        if key is None:
            result.append(doc)
        elif key not in pricing.payers:
            raise TenantBillingError(doc.buyer.slug, f"billing.payer '{key}' is not in platform.pricing.payers "
                                     f"({', '.join(sorted(pricing.payers)) or 'none defined'})")
        else:
            groups.setdefault(key, []).append(doc)
    for key, docs in sorted(groups.items()):
        buyer = payer_buyer(key, pricing.payers[key])
        declared = pricing.vat_exemption
        try:
            basis = basis_for(declared.basis if declared else None, buyer.country, buyer.vat_id,
                              inventory.platform.operator.vat_id)
        except ValueError as exc:
            raise TenantBillingError(docs[0].buyer.slug, f"payer {key}: {exc}") from None
        lines = tuple(replace(line, line_id=str(index), description=f"{tenants[doc.buyer.slug].name}: {line.description}")
                      for index, (doc, line) in enumerate(((d, l) for d in docs for l in d.lines), start=1))
        net = sum((line.net for line in lines), ZERO)
        vat = cents(net * basis.rate / 100)
        listed = ", ".join(f"{tenants[d.buyer.slug].name} ({d.buyer.slug})" for d in docs)
        result.append(replace(
            docs[0], buyer=buyer, lines=lines, service_start=min(d.service_start for d in docs),
            service_end=max(d.service_end for d in docs), vat_category=basis.category, vat_rate=basis.rate,
            vat_exemption_reason=basis.note, vat_basis=basis.key, vat_exemption_code=basis.vatex, net_total=net,
            vat_total=vat, gross_total=net + vat, notes=(f"Sammelrechnung für: {listed}.",) + docs[0].notes,
            storage_bytes=None, centres=tuple((d.buyer.slug, d.storage_bytes) for d in docs),
        ))
    return sorted(result, key=lambda d: d.buyer.slug)


def _prorated(price: Decimal, service: Service, period: Period) -> Decimal:
    return cents(price * service.days / period.days)


def _days_text(service: Service, period: Period) -> str:
    if service.days == period.days:
        return f"Leistungszeitraum {period.label()}, voller Monat"
    return (f"anteilig {service.days}/{period.days} Tage "
            f"({service.start:%d.%m.%Y}–{service.end:%d.%m.%Y})")


def _saas_lines(inventory: Inventory, a: Active, period: Period, usage: StorageUsage) -> list[Line]:
    pricing = inventory.platform.pricing
    plan_name = a.plan_name
    plans = pricing.plans_on(a.service.start)  # prices valid on the first day of service in the period
    if plan_name not in plans:
        raise TenantBillingError(a.tenant.slug, f"plan '{plan_name}' (valid {a.service.start}) has no price in "
                       f"platform.pricing for that date; plans then: {', '.join(sorted(plans))}")
    price = plans[plan_name]
    days = _days_text(a.service, period)
    base = _prorated(price.monthly_fee, a.service, period)
    seat = _prorated(price.seat_fee, a.service, period)
    lines = [
        Line("1", f"Grundgebühr Tarif {plan_name}", f"{de(price.monthly_fee)} EUR/Monat, {days}",
             Decimal("1"), "C62", base, base),
        Line("2", "Lizenzierte Beraterplätze", f"{a.seats} Plätze × {de(price.seat_fee)} EUR/Monat, {days}",
             Decimal(a.seats), "C62", seat, cents(seat * a.seats)),
    ]
    nbytes = usage.bytes_for(a.tenant.slug)
    if nbytes is None:
        over, detail = 0, (f"Kontingent {price.storage_quota_gb} GB; Verbrauch nicht gemessen, "
                           "daher keine Berechnung")
    else:
        used = started_gb(nbytes)
        over = max(0, used - price.storage_quota_gb)
        detail = (f"gemessen {used} GB (angefangene GB), Kontingent {price.storage_quota_gb} GB, "
                  f"{over} GB × {de(price.storage_fee_per_gb)} EUR")
    lines.append(Line("3", "Speicher über Kontingent", detail, Decimal(over), "E34", price.storage_fee_per_gb,
                      cents(price.storage_fee_per_gb * over)))
    return lines


def cost_sharing_weights(inventory: Inventory, active: list[Active], period: Period) -> dict[str, Decimal]:
    """Key weight x active days / period days for each active tenant (exact Decimal)."""
    sharing = inventory.platform.pricing.cost_sharing
    assert sharing is not None
    weights = {}
    for a in active:
        base = {"equal": Decimal(1), "seats": Decimal(a.seats), "weighted": a.tenant.billing.weight}[sharing.key]
        weights[a.tenant.slug] = base * a.service.days / period.days
    return weights


def _cost_sharing_lines(inventory: Inventory, active: list[Active], period: Period) -> dict[str, list[Line]]:
    sharing = inventory.platform.pricing.cost_sharing
    assert sharing is not None
    result: dict[str, list[Line]] = {a.tenant.slug: [] for a in active}
    if not active:
        return result
    weights = cost_sharing_weights(inventory, active, period)
    weight_sum = sum(weights.values(), Decimal(0))
    key_text = {"equal": "gleiche Teile", "seats": "nach Beraterplätzen", "weighted": "nach Gewichtung"}[sharing.key]
    by_slug = {a.tenant.slug: a for a in active}
    for index, item in enumerate(sharing.monthly_costs, start=1):
        shares = split_exact(item.amount, weights)
        for slug, share in shares.items():
            a = by_slug[slug]
            percent = cents(weights[slug] * 100 / weight_sum)
            detail = (f"Gesamtkosten {de(item.amount)} EUR, Umlageschlüssel {key_text}: Anteil {de_number(percent)} %"
                      + ("" if a.service.days == period.days else f", {_days_text(a.service, period)}"))
            result[slug].append(Line(str(index), f"Kostenanteil: {item.description}", detail,
                                     Decimal("1"), "C62", share, share))
    return result
