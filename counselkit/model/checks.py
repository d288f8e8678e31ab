"""Rules that span several entries (duplicates, placement, references) — run after each entry validated alone."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ..layout import ROOT_USER
from .logo import logo_problem
from .platform import Platform
from .tenant import Tenant
from .types import address_key

Finding = tuple[tuple[str | int, ...], str]


def cross_checks(platform: Platform | None, tenants: dict[int, Tenant], base_dir: Path,
                 raw_slugs: dict[int, str]) -> Iterator[Finding]:
    """`raw_slugs` are the slugs as written, also of entries that failed validation, so duplicates always show."""
    yield from _duplicate_slugs(raw_slugs)
    yield from _duplicate_admin_emails(tenants)
    yield from _logos_exist(tenants, base_dir)
    if platform is None:
        return
    yield from _duplicate_hosts(platform)
    yield from _duplicate_admins(platform)
    yield from _deploy_users(platform)
    yield from _placement(platform, tenants)
    yield from _plans_exist(platform, tenants)


# Networks wider than this may reach the Keycloak admin console only with a warning: that is most of the internet.
WIDE_NETWORK_PREFIX = {4: 16, 6: 32}


def warnings(platform: Platform) -> Iterator[Finding]:
    """Allowed but risky settings; `validate` prints them and still succeeds."""
    for index, value in enumerate(platform.admin_networks):
        network = ipaddress.ip_network(value)
        if network.prefixlen < WIDE_NETWORK_PREFIX[network.version]:
            yield ("platform", "admin_networks", index), (
                f"'{value}' opens the Keycloak admin console to {network.num_addresses:,} addresses; "
                f"list the agency's own networks (at least /{WIDE_NETWORK_PREFIX[network.version]})"
            )


def _duplicate_slugs(raw_slugs: dict[int, str]) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, slug in sorted(raw_slugs.items()):
        if slug in first:
            yield ("tenants", index, "slug"), (
                f"duplicate slug '{slug}': already used by tenants[{first[slug]}]; slugs must be unique"
            )
        else:
            first[slug] = index


def _duplicate_admin_emails(tenants: dict[int, Tenant]) -> Iterator[Finding]:
    for index, tenant in tenants.items():
        seen: set[str] = set()
        for position, admin in enumerate(tenant.admins):
            email = admin.email.lower()
            if email in seen:
                yield ("tenants", index, "admins", position, "email"), f"'{admin.email}' is listed twice for this tenant"
            seen.add(email)


def _logos_exist(tenants: dict[int, Tenant], base_dir: Path) -> Iterator[Finding]:
    for index, tenant in tenants.items():
        logo = tenant.branding.logo
        problem = logo_problem(base_dir, logo) if logo else None
        if problem:
            yield ("tenants", index, "branding", "logo"), problem


def _duplicate_hosts(platform: Platform) -> Iterator[Finding]:
    """Names compare as written; addresses by what they reach (::ffff:203.0.113.10 is 203.0.113.10)."""
    for attribute, key in (("name", str), ("address", address_key)):
        first: dict[str, int] = {}
        for index, host in enumerate(platform.hosts):
            value = getattr(host, attribute)
            seen = first.setdefault(key(value), index)
            if seen != index:
                yield ("platform", "hosts", index, attribute), (
                    f"duplicate host {attribute} '{value}': platform.hosts[{seen}] already has it"
                    + ("" if value == getattr(platform.hosts[seen], attribute) else f" as '{getattr(platform.hosts[seen], attribute)}'")
                )


def _duplicate_admins(platform: Platform) -> Iterator[Finding]:
    seen: set[str] = set()
    for index, admin in enumerate(platform.admins):
        if admin.name in seen:
            yield ("platform", "admins", index, "name"), f"duplicate admin name '{admin.name}'"
        seen.add(admin.name)


def _deploy_users(platform: Platform) -> Iterator[Finding]:
    """A deploy logs in as root (a host's first run) or as an admin, who gets account, key and sudo from the deploy
    itself; any other account would not exist, and root login is switched off only for an admin."""
    admins = [admin.name for admin in platform.admins]
    for index, host in enumerate(platform.hosts):
        if host.ssh_user != ROOT_USER and host.ssh_user not in admins:
            yield ("platform", "hosts", index, "ssh_user"), (
                f"ssh_user '{host.ssh_user}' is not an admin: the deploy logs in as one of platform.admins "
                f"({', '.join(admins)}) and uses sudo, or as {ROOT_USER} for a host's first (bootstrap) run"
            )


def _placement(platform: Platform, tenants: dict[int, Tenant]) -> Iterator[Finding]:
    names = [host.name for host in platform.hosts]
    placed: Counter[str] = Counter()
    for index, tenant in tenants.items():
        if tenant.host is None:
            continue
        if tenant.host not in names:
            yield ("tenants", index, "host"), f"unknown host '{tenant.host}'; hosts in platform.hosts: {', '.join(names)}"
            continue
        placed[tenant.host] += 1
        capacity = platform.host(tenant.host).capacity_tenants
        if placed[tenant.host] == capacity + 1:
            yield ("tenants", index, "host"), (
                f"host '{tenant.host}' is over capacity: capacity_tenants is {capacity}; "
                "place this tenant elsewhere, omit 'host' for automatic placement, or raise the capacity"
            )
    total = sum(host.capacity_tenants for host in platform.hosts)
    if len(tenants) > total:
        yield ("tenants",), (
            f"{len(tenants)} tenants but all hosts together hold {total} (sum of capacity_tenants); add a host or raise capacity"
        )


def _plans_exist(platform: Platform, tenants: dict[int, Tenant]) -> Iterator[Finding]:
    plans = sorted(platform.pricing.plans)
    for index, tenant in tenants.items():
        if tenant.contract.plan not in plans:
            yield ("tenants", index, "contract", "plan"), (
                f"unknown plan '{tenant.contract.plan}'; plans in platform.pricing.plans: {', '.join(plans)}"
            )
