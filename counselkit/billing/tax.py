"""The closed list of VAT bases an invoice may use, and how one is chosen for a tenant.

Nothing typed as free text changes the tax: an invoice is either at the standard rate, reverse charge for an
EU business buyer (decided from the buyer's country and VAT ID), or exempt under one of the bases listed in
EXEMPTIONS, and an exemption applies only when the operator has declared, condition by condition, that the
law's conditions are met (`pricing.vat_exemption` in tenants.yaml). Each basis carries its German invoice
note (printed and sent as BT-120) and its EN 16931 category code (BT-118) and VATEX code (BT-121).

This module is plain data and small functions without imports from the model, so the model can validate
declarations against the same list the billing uses (one source of truth).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

STANDARD_RATE = Decimal("19")  # § 12 Abs. 1 UStG; IT services have no reduced rate
HOME_COUNTRY = "DE"

# EU member states (ISO 3166-1 alpha-2) for the reverse-charge decision (§ 3a Abs. 2, § 13b UStG).
EU_MEMBER_STATES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
    "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
VAT_ID_PREFIX = {"GR": "EL"}  # Greece's VAT IDs start with EL; every other member state uses its ISO code


@dataclass(frozen=True)
class TaxBasis:
    key: str
    category: str  # EN 16931 BT-118 / UNTDID 5305: S standard, E exempt, AE reverse charge
    note: str | None  # German text printed on the invoice and sent as exemption reason (BT-120)
    vatex: str | None  # BT-121 VATEX code, where the CEF code list has one for this basis
    conditions: tuple[tuple[str, str], ...] = ()  # (declaration key, the legal condition in German)
    modes: frozenset[str] = frozenset({"saas", "cost_sharing"})

    @property
    def rate(self) -> Decimal:
        return STANDARD_RATE if self.category == "S" else Decimal("0")


STANDARD = TaxBasis("standard", "S", None, None)
REVERSE_CHARGE = TaxBasis(
    "reverse_charge", "AE",
    "Steuerschuldnerschaft des Leistungsempfängers (Reverse-Charge-Verfahren, § 13b UStG, Art. 196 MwStSystRL)",
    "VATEX-EU-AE",
)
USTG_4_NR_29 = TaxBasis(
    "ustg_4_nr_29", "E",
    "Steuerfreie Kostenerstattung eines selbständigen Zusammenschlusses an seine Mitglieder nach § 4 Nr. 29 UStG",
    "VATEX-EU-132-1F",  # Art. 132 Abs. 1 Buchst. f MwStSystRL, which § 4 Nr. 29 UStG implements
    conditions=(
        ("independent_association", "Der Rechnungsaussteller ist ein selbständiger Zusammenschluss von Personen "
                                    "(Mitgliedern), der deren gemeinsame Kosten verwaltet."),
        ("buyers_are_members", "Jeder Rechnungsempfänger ist Mitglied des Zusammenschlusses."),
        ("members_exempt_activity", "Die Mitglieder üben eine dem Gemeinwohl dienende Tätigkeit aus, die nach § 4 "
                                    "Nr. 11b, 14 bis 18, 20 bis 25 oder 27 UStG steuerfrei ist oder für die sie "
                                    "nicht Unternehmer sind."),
        ("used_directly_for_it", "Die Leistungen werden unmittelbar für diese steuerfreie Tätigkeit verwendet."),
        ("exact_reimbursement", "Die Mitglieder erstatten nur ihren genauen Anteil an den gemeinsamen Kosten, "
                                "ohne Gewinnaufschlag."),
        ("no_distortion_of_competition", "Die Steuerbefreiung führt nicht zu einer Wettbewerbsverzerrung."),
    ),
    modes=frozenset({"cost_sharing"}),
)
USTG_19 = TaxBasis(
    "ustg_19", "E",
    "Steuerfreier Umsatz eines Kleinunternehmers nach § 19 Abs. 1 UStG",
    None,  # the CEF VATEX list has no code for national small-business schemes: BT-120 text only
    conditions=(
        ("prior_year_turnover_max_25000", "Der Gesamtumsatz im vorangegangenen Kalenderjahr betrug höchstens "
                                          "25.000 EUR."),
        ("current_year_turnover_max_100000", "Der Gesamtumsatz im laufenden Kalenderjahr übersteigt 100.000 EUR "
                                             "nicht."),
        ("no_waiver", "Der Unternehmer hat nicht nach § 19 Abs. 3 UStG auf die Steuerbefreiung verzichtet."),
    ),
)

EXEMPTIONS: dict[str, TaxBasis] = {basis.key: basis for basis in (USTG_4_NR_29, USTG_19)}
BASES: dict[str, TaxBasis] = {basis.key: basis for basis in (STANDARD, REVERSE_CHARGE, *EXEMPTIONS.values())}


def check_declaration(basis_key: str, conditions: dict[str, bool], mode: str) -> None:
    """Raise ValueError unless `conditions` confirms every condition of the exemption `basis_key`."""
    basis = EXEMPTIONS.get(basis_key)
    if basis is None:
        raise ValueError(f"'{basis_key}' is not an exemption counselkit knows; allowed: {', '.join(sorted(EXEMPTIONS))}")
    if mode not in basis.modes:
        raise ValueError(f"exemption {basis_key} only applies in pricing mode {', '.join(sorted(basis.modes))}")
    wanted = [key for key, _ in basis.conditions]
    unknown = sorted(set(conditions) - set(wanted))
    if unknown:
        raise ValueError(f"unknown condition(s) {', '.join(unknown)} for {basis_key}; its conditions: {', '.join(wanted)}")
    unconfirmed = [key for key in wanted if conditions.get(key) is not True]
    if unconfirmed:
        raise ValueError(f"exemption {basis_key} needs the operator to confirm every legal condition with true; "
                         f"not confirmed: {', '.join(unconfirmed)} (see docs/billing.md)")


def vat_id_matches_country(vat_id: str, country: str) -> bool:
    return vat_id[:2] == VAT_ID_PREFIX.get(country, country)


def basis_for(exemption: str | None, buyer_country: str, buyer_vat_id: str | None, seller_vat_id: str | None) -> TaxBasis:
    """The basis of one invoice. Raises ValueError for a buyer counselkit cannot bill lawfully.

    A buyer in another EU member state with a VAT ID receives a B2B service taxable where it is established
    (§ 3a Abs. 2 UStG): reverse charge, whatever the operator declared. A domestic buyer gets the declared
    exemption or the standard rate. Other foreign buyers are refused: without a VAT ID the place of supply of
    electronic services is the buyer's country (§ 3a Abs. 5 UStG, OSS), outside the EU other rules apply.
    """
    if buyer_country == HOME_COUNTRY:
        return EXEMPTIONS[exemption] if exemption else STANDARD
    if buyer_country not in EU_MEMBER_STATES:
        raise ValueError(f"buyer country {buyer_country} is outside the EU; counselkit only bills buyers in Germany "
                         "or EU businesses (reverse charge)")
    if not buyer_vat_id:
        raise ValueError(f"buyer in {buyer_country} without billing.vat_id: reverse charge needs the buyer's VAT ID "
                         "(§ 13b UStG); a buyer without one would owe VAT of its own country (OSS), not supported")
    if not vat_id_matches_country(buyer_vat_id, buyer_country):
        raise ValueError(f"buyer VAT ID {buyer_vat_id} does not belong to its country {buyer_country}")
    if not seller_vat_id:
        raise ValueError("reverse charge needs the operator's vat_id (USt-IdNr., § 14a Abs. 1 UStG)")
    return REVERSE_CHARGE
