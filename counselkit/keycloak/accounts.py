"""Accounts of a tenant's realm as the federation's office sees them: who exists, who completed 2FA, seats.

Seats (docs/keycloak.md, 'Seats'): every enabled account of the realm counts, except the org admins that
counselkit manages from tenants.yaml (realm role org-admin) and service accounts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .. import layout
from ..plan import TenantPlan

if TYPE_CHECKING:
    from keycloak import KeycloakAdmin


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    email: str
    enabled: bool
    org_admin: bool
    otp: bool  # an OTP credential is configured (2FA completed)
    email_verified: bool
    pending: tuple[str, ...] = ()  # required actions not yet done
    created: str = ""  # ISO date

    @property
    def counts_as_seat(self) -> bool:
        return self.enabled and not self.org_admin


@dataclass
class TenantAccess:
    slug: str
    name: str
    host: str
    realm: str
    seats_licensed: int
    accounts: list[Account] = field(default_factory=list)
    realm_missing: bool = False

    @property
    def seats_used(self) -> int:
        return sum(1 for a in self.accounts if a.counts_as_seat)

    @property
    def over_seats(self) -> int:
        return max(0, self.seats_used - self.seats_licensed)

    @property
    def otp_completed(self) -> int:
        return sum(1 for a in self.accounts if a.otp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.slug, "name": self.name, "host": self.host, "realm": self.realm,
            "realm_missing": self.realm_missing, "seats_licensed": self.seats_licensed, "seats_used": self.seats_used,
            "over_seats": self.over_seats, "accounts_total": len(self.accounts), "otp_completed": self.otp_completed,
            "accounts": [dict(asdict(a), pending=list(a.pending), counts_as_seat=a.counts_as_seat) for a in self.accounts],
        }


def account_from(user: dict[str, Any], credentials: list[dict[str, Any]], org_admin_ids: set[str]) -> Account:
    created = user.get("createdTimestamp")
    name = " ".join(part for part in (user.get("firstName"), user.get("lastName")) if part)
    return Account(
        username=user.get("username", ""),
        name=name,
        email=user.get("email", "") or "",
        enabled=bool(user.get("enabled", False)),
        org_admin=user.get("id") in org_admin_ids,
        otp=any(c.get("type") == "otp" for c in credentials),
        email_verified=bool(user.get("emailVerified", False)),
        pending=tuple(user.get("requiredActions") or ()),
        created=dt.datetime.fromtimestamp(created / 1000, tz=dt.timezone.utc).date().isoformat() if created else "",
    )


def collect(admin: "KeycloakAdmin", tenant: TenantPlan) -> TenantAccess:
    """Read the tenant's realm (read-only)."""
    from keycloak.exceptions import KeycloakGetError

    access = TenantAccess(slug=tenant.slug, name=tenant.tenant.name, host=tenant.host, realm=tenant.keycloak_realm,
                          seats_licensed=tenant.tenant.seats)
    admin.change_current_realm("master")
    if tenant.keycloak_realm not in {r.get("realm") for r in admin.get_realms()}:
        access.realm_missing = True
        return access
    admin.change_current_realm(tenant.keycloak_realm)
    try:
        org_admin_ids = {u["id"] for u in admin.get_realm_role_members(layout.KEYCLOAK_ORG_ADMIN_ROLE)}
    except KeycloakGetError:  # role not created yet: realm not provisioned by counselkit
        org_admin_ids = set()
    for user in sorted(admin.get_users({"briefRepresentation": False}), key=lambda u: u.get("username", "")):
        if user.get("serviceAccountClientId"):
            continue
        access.accounts.append(account_from(user, admin.get_credentials(user["id"]), org_admin_ids))
    admin.change_current_realm("master")
    return access
