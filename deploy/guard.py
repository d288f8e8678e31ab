"""Refuse to deploy while a tenant's data would be orphaned: tenants removed from tenants.yaml need offboarding."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.server import Command

from counselkit import layout

from .common import host_vars

OFFBOARD_HINT = (
    "Put the tenant back into tenants.yaml to keep it. Offboarding (export, then remove its data and release it "
    "from tenants.lock.json) has no command yet: follow the manual steps in docs/operations.md, 'Removing a "
    "tenant'. Nothing has been changed on any host."
)


class TenantRemovedError(DeployError):
    pass


def refuse_orphaned_tenants() -> None:
    """Raise before any operation runs if this host holds tenants that tenants.yaml no longer lists."""
    data = host_vars()
    planned = {t["slug"] for t in data["tenants"]}
    removed = {r["slug"] for r in data["removed"]}
    listing = host.get_fact(Command, f"ls -1 {layout.SYNAPSE_CONFIG_ROOT} 2>/dev/null || true") or ""
    on_host = {name.strip() for name in listing.splitlines() if name.strip()}
    orphaned = sorted(removed | (on_host - planned))
    if orphaned:
        names = ", ".join(f"'{slug}'" for slug in orphaned)
        raise TenantRemovedError(
            f"{host.name}: tenant(s) {names} have data on this host (database, media, signing key) but are not in "
            f"tenants.yaml any more. The deploy refuses to continue so that no tenant's data is deleted or left "
            f"behind silently. {OFFBOARD_HINT}"
        )
