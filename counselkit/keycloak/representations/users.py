"""Org admin accounts from tenants.yaml: Matrix-compatible usernames and their user representations."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ...model.tenant import OrgAdmin
from ...plan import TenantPlan

from .schema import check
from .policy import ORG_ADMIN_REQUIRED_ACTIONS


_LOCALPART_INVALID = re.compile(r"[^a-z0-9._=-]")

def org_admin_username(admin: OrgAdmin, taken: set[str] | None = None) -> str:
    """A Matrix-compatible username from the e-mail's local part (Synapse maps preferred_username to the localpart)."""
    local = str(admin.email).split("@", 1)[0]
    ascii_local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode().lower()
    name = _LOCALPART_INVALID.sub("-", ascii_local).strip("-.") or "admin"
    candidate, n = name, 2
    while taken is not None and candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate

def org_admin_usernames(tenant: TenantPlan) -> dict[str, OrgAdmin]:
    """username -> org admin, in tenants.yaml order (collisions get -2, -3 ... in that order)."""
    taken: set[str] = set()
    result: dict[str, OrgAdmin] = {}
    for admin in tenant.tenant.admins:
        username = org_admin_username(admin, taken)
        taken.add(username)
        result[username] = admin
    return result

def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (name.strip(), "")

def org_admin_representation(username: str, admin: OrgAdmin, new: bool) -> dict[str, Any]:
    """An org admin's account. On creation it carries the required actions; later updates leave them alone."""
    first, last = split_name(admin.name)
    user: dict[str, Any] = {
        "username": username,
        "email": str(admin.email).lower(),
        "firstName": first,
        "lastName": last,
        "enabled": True,
    }
    if new:
        user["emailVerified"] = False
        user["requiredActions"] = list(ORG_ADMIN_REQUIRED_ACTIONS)
    return check("UserRepresentation", user)
