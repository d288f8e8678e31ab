"""One `tenants:` entry: a counselling centre with its contract, accounts, billing data and branding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, model_validator

from .types import Color, Domain, Email, HostName, NonEmpty, PostalAddress, Slug, Strict, Url


class Contract(Strict):
    start: date
    end: date | None = None  # last day of service, inclusive
    plan: NonEmpty = "lite"

    @model_validator(mode="after")
    def _ends_after_start(self) -> "Contract":
        if self.end is not None and self.end < self.start:
            raise ValueError(f"contract ends ({self.end}) before it starts ({self.start}); 'end' must be on or after 'start'")
        return self


class OrgAdmin(Strict):
    """A person of the counselling centre who manages its counsellor accounts in Keycloak."""

    name: NonEmpty
    email: Email


class TenantBilling(Strict):
    address: PostalAddress
    email: Email
    contact: NonEmpty | None = None
    vat_exempt_reason: NonEmpty | None = None  # set when this tenant's invoices are VAT-exempt
    cost_centre: NonEmpty | None = None
    buyer_reference: Annotated[str, Field(min_length=1, max_length=100)] | None = None  # e.g. Leitweg-ID
    weight: Annotated[Decimal, Field(gt=0, le=1000)] = Decimal("1")  # cost-sharing key "weighted"


class Branding(Strict):
    primary_color: Color = "#00519e"
    secondary_color: Color = "#f5f7fa"
    logo: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]+\.(png|svg)$")] | None = None  # relative to tenants.yaml
    imprint_url: Url
    privacy_url: Url
    terms_url: Url | None = None


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
