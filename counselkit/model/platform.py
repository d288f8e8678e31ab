"""The `platform:` section: who operates, which hosts, how TLS, backups, pricing and artifacts are set."""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from ..billing.leitweg import LeitwegId
from ..layout import ROOT_USER
from ..billing.tax import EXEMPTIONS, STANDARD_RATE, check_declaration
from .types import (
    Domain, Email, HostName, Iban, LaxDecimal, Money, NetAddress, NonEmpty, PostalAddress, Slug, SshPublicKey,
    Strict, Text, UnixUser, Url, VatId,
)

# Pinned releases: the only place these versions are written down. tenants.yaml may override them.
SYNAPSE_VERSION = "1.163.2"


def _bucket(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value) or ".." in value:
        raise ValueError(f"'{value}' is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
    return value


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"'{value}' is not an IP network such as 192.0.2.0/24") from None


def _sha256(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError("must be the archive's SHA-256 as 64 lowercase hex digits")
    return value


def one_line(value: str) -> str:
    """A value that is one line of a config file (msmtp, Keycloak): no control or line-separator characters."""
    if any(ord(c) < 0x20 or c in "\x7f\x85\u2028\u2029" for c in value):
        raise ValueError("must be one line: no line breaks, tabs or other control characters")
    return value


def _on_calendar(value: str) -> str:
    # A loose guard only: systemd-analyze calendar checks the full grammar on the host.
    if not re.fullmatch(r"[A-Za-z0-9*:,./~ -]{3,80}", value):
        raise ValueError(f"'{value}' is not a systemd OnCalendar expression such as '*-*-* 02:30:00' or 'daily'")
    return value


Bucket = Annotated[str, AfterValidator(_bucket)]
Network = Annotated[str, AfterValidator(_network)]
Sha256 = Annotated[str, AfterValidator(_sha256)]
OnCalendar = Annotated[str, AfterValidator(_on_calendar)]
OneLine = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(one_line)]
Version = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+){1,3}$")]


class Contact(Strict):
    name: NonEmpty
    email: Email
    phone: NonEmpty | None = None


class Operator(Strict):
    """The IT agency that runs the platform and issues the invoices (§ 14 Abs. 4 UStG data)."""

    name: NonEmpty
    address: PostalAddress
    vat_id: VatId | None = None
    tax_number: NonEmpty | None = None
    iban: Iban
    bic: Annotated[str, Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")] | None = None
    bank: NonEmpty | None = None
    contact: Contact
    commercial_register: NonEmpty | None = None  # e.g. "Amtsgericht Kiel, HRB 12345"
    managing_director: NonEmpty | None = None

    @model_validator(mode="after")
    def _tax_identity(self) -> "Operator":
        if not (self.vat_id or self.tax_number):
            raise ValueError("an invoice needs the operator's vat_id or tax_number (§ 14 Abs. 4 Nr. 2 UStG); give at least one")
        return self


class Host(Strict):
    name: HostName
    address: NetAddress
    capacity_tenants: Annotated[int, Field(ge=1, le=500)] = 40
    ssh_port: Annotated[int, Field(ge=1, le=65535)] = 22
    # Who the deploy logs in as: root only for the host's first (bootstrap) run, then one of platform.admins, with
    # sudo; root's SSH login is off then (counselkit.plan.HostPlan.sudo, checks._deploy_users).
    ssh_user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
                                   description="root for the first (bootstrap) deploy, then one of platform.admins "
                                               "(sudo; root SSH login off)")] = ROOT_USER
    # The host's own SSH public keys ("ssh-ed25519 AAAA..."): production deploys accept no other (counselkit.hostkeys).
    host_keys: list[SshPublicKey] = []


class Admin(Strict):
    """A person of the agency who may log in to the hosts (keys only)."""

    name: UnixUser
    ssh_key: SshPublicKey


class Retention(Strict):
    daily: Annotated[int, Field(ge=1, le=366)] = 7
    weekly: Annotated[int, Field(ge=0, le=520)] = 4
    monthly: Annotated[int, Field(ge=0, le=240)] = 12


class Backup(Strict):
    s3_endpoint: Url
    bucket: Bucket
    region: Annotated[str, Field(pattern=r"^[a-z0-9-]{2,32}$")] = "eu-central-1"
    schedule: OnCalendar = "*-*-* 02:30:00"
    retention: Retention = Retention()
    max_age_hours: Annotated[int, Field(ge=1, le=24 * 31)] = 26  # newest snapshot older than this = stale
    # Object lock retention (where the provider supports it) and how long deleted/overwritten object
    # versions stay recoverable in the versioned bucket; 0 = no object lock, noncurrent versions kept 1 day.
    immutable_days: Annotated[int, Field(ge=0, le=3650)] = 30
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"


class PlanPrice(Strict):
    """Prices of one contract plan in `saas` mode (ignored in `cost_sharing` mode)."""

    monthly_fee: Money = Decimal("0")
    seat_fee: Money = Decimal("0")
    storage_quota_gb: Annotated[int, Field(ge=0)] = 10
    storage_fee_per_gb: Money = Decimal("0")


class CostItem(Strict):
    description: NonEmpty
    amount: Money


class CostSharing(Strict):
    """Umlage: the platform's real monthly costs split among the tenants without mark-up."""

    key: Literal["equal", "seats", "weighted"] = "equal"
    monthly_costs: Annotated[list[CostItem], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _no_free_text_exemption(cls, data: object) -> object:
        if isinstance(data, dict) and "vat_exemption_reason" in data:
            raise ValueError(_FREE_TEXT_TAX)
        return data


_FREE_TEXT_TAX = ("free-text VAT exemptions are no longer accepted: the tax never follows free text. Cost sharing "
                  "is taxed at the standard rate unless pricing.vat_exemption declares a basis from the closed "
                  f"list ({', '.join(sorted(EXEMPTIONS))}) with every legal condition; see docs/billing.md")


class VatExemption(Strict):
    """The operator's explicit declaration that the legal conditions of one exemption basis are met."""

    basis: NonEmpty  # a key of counselkit.billing.tax.EXEMPTIONS, checked with its conditions by Pricing
    declared_by: NonEmpty  # who at the operator checked the conditions (documented for the tax audit)
    declared_on: date
    conditions: dict[NonEmpty, bool]  # every condition of the basis, each confirmed with true


class BillingArchive(Strict):
    """Where issued originals and the ledger's pinned head are kept write-once (docs/billing.md)."""

    store: Literal["local", "s3"] = "local"  # s3: the backup bucket, prefix billing-archive/, COMPLIANCE lock
    path: Annotated[Text, Field(min_length=1, max_length=500)] = "invoices-archive"  # local: relative to tenants.yaml
    retention_years: Annotated[int, Field(ge=10, le=30)] = 10  # § 147 AO, § 14b UStG: books and invoices


class Payer(Strict):
    """A federation or umbrella body that pays for several centres: one consolidated invoice listing them."""

    name: NonEmpty
    legal_name: NonEmpty | None = None  # BT-44 when `name` is a trading name
    address: PostalAddress
    email: Email
    contact: NonEmpty | None = None
    vat_id: VatId | None = None
    leitweg_id: LeitwegId | None = None
    buyer_reference: Annotated[Text, Field(min_length=1, max_length=100)] | None = None


class PastPrices(Strict):
    """Plan prices as they were up to and including `until` (billing history; today's are pricing.plans)."""

    until: date
    plans: Annotated[dict[NonEmpty, PlanPrice], Field(min_length=1)]


class Pricing(Strict):
    mode: Literal["saas", "cost_sharing"]
    currency: Literal["EUR"] = "EUR"
    vat_rate: LaxDecimal = STANDARD_RATE  # only the standard rate is lawful for these services; kept for clarity
    payment_terms_days: Annotated[int, Field(ge=0, le=120)] = 14
    invoice_prefix: Annotated[str, Field(pattern=r"^[A-Z0-9-]{1,12}$")] = "RE"
    plans: Annotated[dict[NonEmpty, PlanPrice], Field(min_length=1)] = {"lite": PlanPrice()}
    price_history: list[PastPrices] = []  # earlier prices, oldest first
    payers: dict[Slug, Payer] = {}  # tenants[].billing.payer refers to these keys
    cost_sharing: CostSharing | None = None
    vat_exemption: VatExemption | None = None  # none: every domestic invoice at the standard rate
    archive: BillingArchive = BillingArchive()

    @model_validator(mode="after")
    def _mode_needs_section(self) -> "Pricing":
        if self.mode == "cost_sharing" and self.cost_sharing is None:
            raise ValueError("mode 'cost_sharing' needs a 'cost_sharing:' section with monthly_costs")
        if self.vat_rate != STANDARD_RATE:
            raise ValueError(f"vat_rate must be the standard rate {STANDARD_RATE} (§ 12 Abs. 1 UStG); a different tax "
                             "needs a declared basis in pricing.vat_exemption, see docs/billing.md")
        if self.vat_exemption is not None:
            check_declaration(self.vat_exemption.basis, self.vat_exemption.conditions, self.mode)
        untils = [entry.until for entry in self.price_history]
        if untils != sorted(set(untils)):
            raise ValueError("price_history must be in date order (oldest first), each 'until' once")
        return self

    def plans_on(self, day: date) -> dict[str, PlanPrice]:
        """The plan prices valid on `day`: the first history entry still valid then, else today's."""
        return next((entry.plans for entry in self.price_history if day <= entry.until), self.plans)


class Artifact(Strict):
    """A release archive pinned by version and checksum; fetched from `url` or a local artifact directory."""

    version: Version
    url: Url
    sha256: Sha256


class SynapseRelease(Strict):
    version: Version = SYNAPSE_VERSION


class Artifacts(Strict):
    synapse: SynapseRelease = SynapseRelease()
    keycloak: Artifact | None = None
    element_web: Artifact | None = None


class Smtp(Strict):
    """Outgoing mail for the Keycloak realms (verify email, password reset) and, with `reports_to`, for the hosts'
    AIDE and unattended-upgrades reports (a send-only MTA, msmtp, relays them through this server). The password,
    if `user` is set, is the provider-supplied secret platform.smtp_password
    (`counselkit secrets set platform.smtp_password`)."""

    host: NetAddress
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    from_address: Email
    from_name: NonEmpty | None = None  # default: the tenant's name
    reply_to: Email | None = None
    starttls: bool = True
    ssl: bool = False  # implicit TLS (port 465)
    user: OneLine | None = None  # one line in msmtp's config and Keycloak's
    reports_to: Email | None = None  # the operator's mailbox for host reports; unset = hosts send no mail

    @model_validator(mode="after")
    def _one_tls_mode(self) -> "Smtp":
        if self.ssl and self.starttls:
            raise ValueError("choose one of ssl (implicit TLS, port 465) and starttls (port 587), not both")
        return self


class Platform(Strict):
    domain: Domain
    operator: Operator
    hosts: Annotated[list[Host], Field(min_length=1)]
    admins: Annotated[list[Admin], Field(min_length=1)]
    tls: Literal["acme", "internal"] = "acme"
    acme_email: Email | None = None
    proxy: Url | None = None
    no_proxy: list[NetAddress] = []  # reached directly, not through the proxy (e.g. an S3 endpoint in the same network)
    admin_networks: list[Network] = []  # may reach the Keycloak admin console; empty = nobody from outside
    backup: Backup
    pricing: Pricing
    artifacts: Artifacts = Artifacts()
    smtp: Smtp | None = None  # realm email; without it Keycloak cannot send verify/reset mails
    secrets_file: Annotated[Text, Field(min_length=1)] = "secrets.vault"

    @model_validator(mode="after")
    def _acme_needs_email(self) -> "Platform":
        if self.tls == "acme" and self.acme_email is None:
            raise ValueError("tls 'acme' needs acme_email (Let's Encrypt account contact); or use tls: internal")
        return self

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)
