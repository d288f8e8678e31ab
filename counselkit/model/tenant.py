"""One `tenants:` entry: a counselling centre with its contract, accounts, billing data and branding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, model_validator

from .. import layout
from ..billing.leitweg import LeitwegId

from .logo import LogoFile
from .types import Color, Domain, Email, HostName, HttpsUrl, LaxDecimal, NonEmpty, PostalAddress, Slug, Strict, Text, VatId


class PastTerms(Strict):
    """Plan and seats as they were up to and including `until` (billing history; today's are plan and seats)."""

    until: date
    plan: NonEmpty
    seats: Annotated[int, Field(ge=1, le=10000)]


class Contract(Strict):
    start: date
    end: date | None = None  # last day of service, inclusive
    plan: NonEmpty = "lite"
    history: list[PastTerms] = []  # earlier plan/seats, oldest first, so past months bill what was true then

    @model_validator(mode="after")
    def _ends_after_start(self) -> "Contract":
        if self.end is not None and self.end < self.start:
            raise ValueError(f"contract ends ({self.end}) before it starts ({self.start}); 'end' must be on or after 'start'")
        untils = [terms.until for terms in self.history]
        if untils != sorted(set(untils)):
            raise ValueError("contract.history must be in date order (oldest first), each 'until' once")
        return self


class OrgAdmin(Strict):
    """A person of the counselling centre who manages its counsellor accounts in Keycloak."""

    name: NonEmpty
    email: Email


class TenantBilling(Strict):
    address: PostalAddress
    email: Email
    contact: NonEmpty | None = None
    legal_name: NonEmpty | None = None  # the buyer's legal entity (BT-44), when `name` is the centre's trading name
    vat_id: VatId | None = None  # the buyer's USt-IdNr.; an EU buyer outside Germany with one: reverse charge
    cost_centre: NonEmpty | None = None
    leitweg_id: LeitwegId | None = None  # public-sector recipient: checked format and check digits, sent as BT-10
    buyer_reference: Annotated[Text, Field(min_length=1, max_length=100)] | None = None  # other BT-10, e.g. order ref.
    weight: Annotated[LaxDecimal, Field(gt=0, le=1000)] = Decimal("1")  # cost-sharing key "weighted"
    payer: Slug | None = None  # key in platform.pricing.payers: billed on that body's consolidated invoice

    @model_validator(mode="before")
    @classmethod
    def _no_free_text_exemption(cls, data: object) -> object:
        if isinstance(data, dict) and "vat_exempt_reason" in data:
            raise ValueError("billing.vat_exempt_reason is no longer accepted: free text never changes the tax. "
                             "The operator declares an exemption from the closed list in pricing.vat_exemption; "
                             "EU business buyers get reverse charge from billing.vat_id; see docs/billing.md")
        return data


class Branding(Strict):
    """How the centre's web app and login page look; only the two legally required links have no default."""

    display_name: Annotated[Text, Field(min_length=1, max_length=100)] | None = None  # web app header; default: name
    primary_color: Color = "#00519e"  # buttons and header (white text), links
    secondary_color: Color = "#f5f7fa"  # page background (dark text)
    logo: LogoFile | None = None  # PNG or SVG next to tenants.yaml; content checked by model/logo.py
    imprint_url: HttpsUrl  # Impressum (§ 5 DDG)
    privacy_url: HttpsUrl  # Datenschutzerklärung (Art. 13 DSGVO)
    terms_url: HttpsUrl | None = None


def _limit_default(name: str) -> int:
    return layout.SYNAPSE_LIMITS[name]


class Limits(Strict):
    """Resource limits of the tenant's Synapse; the defaults live in counselkit.layout.SYNAPSE_LIMITS."""

    memory_high_mb: Annotated[int, Field(strict=True, ge=128, le=262144)] = _limit_default("memory_high_mb")
    memory_max_mb: Annotated[int, Field(strict=True, ge=128, le=262144)] = _limit_default("memory_max_mb")
    cpu_weight: Annotated[int, Field(strict=True, ge=1, le=10000)] = _limit_default("cpu_weight")
    tasks_max: Annotated[int, Field(strict=True, ge=32, le=65536)] = _limit_default("tasks_max")
    open_files: Annotated[int, Field(strict=True, ge=1024, le=1048576)] = _limit_default("open_files")

    @model_validator(mode="after")
    def _high_below_max(self) -> "Limits":
        if self.memory_high_mb > self.memory_max_mb:
            raise ValueError(f"memory_high_mb ({self.memory_high_mb}) is above memory_max_mb ({self.memory_max_mb}); "
                             "the throttling point must be at or below the hard limit")
        return self


def _counselling_default(name: str) -> object:
    return layout.COUNSELLING_DEFAULTS[name]


Topic = Annotated[Text, Field(min_length=1, max_length=100)]


class Counselling(Strict):
    """What help-seekers see and how long their accounts last; the defaults live in layout.COUNSELLING_DEFAULTS.

    The texts reach the counselling module's config (homeserver.yaml) and help-seekers' screens: single-line Text."""

    topics: Annotated[list[Topic], Field(min_length=1, max_length=50)] = _counselling_default("topics")  # type: ignore[assignment]
    opening_hours: Annotated[Text, Field(min_length=1, max_length=200)] = _counselling_default("opening_hours")  # type: ignore[assignment]
    absence_message: Annotated[Text, Field(min_length=1, max_length=500)] | None = _counselling_default("absence_message")  # type: ignore[assignment]
    # Inactive help-seeker accounts and their rooms are purged after this many days (issue 15 point 7).
    retention_days: Annotated[int, Field(strict=True, ge=7, le=3650)] = _counselling_default("retention_days")  # type: ignore[assignment]
    notify_counsellors: bool = _counselling_default("notify_counsellors")  # type: ignore[assignment]

    @model_validator(mode="after")
    def _topics_once(self) -> "Counselling":
        if len(set(self.topics)) != len(self.topics):
            raise ValueError("counselling.topics lists a topic twice")
        return self


class Tenant(Strict):
    slug: Slug  # DNS label, unique, never changed after onboarding
    name: NonEmpty
    contract: Contract
    seats: Annotated[int, Field(ge=1, le=10000)]  # licensed counsellor accounts
    admins: Annotated[list[OrgAdmin], Field(min_length=1)]
    billing: TenantBilling
    branding: Branding
    host: HostName | None = None  # explicit placement; otherwise by capacity
    federation: bool = False  # Matrix federation with other servers
    limits: Limits = Limits()  # its Synapse's memory, CPU share, tasks and open files
    counselling: Counselling = Counselling()  # topics, opening hours, absence text, retention, notices
    # With federation: the only servers this homeserver talks to (Synapse federation_domain_whitelist); never the
    # whole Matrix network, because the rooms hold help-seekers' data (GDPR Art. 9).
    federation_domains: Annotated[list[Domain], Field(max_length=100)] = []

    @model_validator(mode="after")
    def _federation_needs_allow_list(self) -> "Tenant":
        if self.federation and not self.federation_domains:
            raise ValueError("federation: true needs federation_domains, the list of partner servers' domains "
                             "(e.g. [beratung.partner.example]); federation with the whole Matrix network is not offered")
        if self.federation_domains and not self.federation:
            raise ValueError("federation_domains is set but federation is false: set federation: true or remove the list")
        if len(set(self.federation_domains)) != len(self.federation_domains):
            raise ValueError("federation_domains lists a domain twice")
        return self

    def domain(self, platform_domain: str) -> str:
        return f"{self.slug}.{platform_domain}"
