"""Checks of isolation between tenants."""

from __future__ import annotations

import json
from typing import Any

from .. import netprobe
from ..context import CheckContext, Finding, failed, verdict
from .registry import check, no_tenants, per_tenant


@check("tenant_users_distinct", "each tenant has its own system user (distinct UID, no login shell)")
def tenant_users_distinct(ctx: CheckContext) -> Finding:
    expected = "getent passwd <tenant user>: distinct UIDs, shell nologin/false"
    if not ctx.tenants:
        return no_tenants(expected)
    problems, found, uids = [], [], {}
    for tenant in ctx.tenants:
        entry = ctx.out("getent", "passwd", tenant.unix_user).strip()
        if not entry:
            problems.append(f"{tenant.unix_user}: no such user")
            continue
        fields = entry.split(":")
        uids.setdefault(fields[2], []).append(tenant.unix_user)
        found.append(f"{tenant.unix_user}: uid {fields[2]}, shell {fields[6]}")
        if not fields[6].endswith(("nologin", "false")):
            problems.append(f"{tenant.unix_user}: login shell {fields[6]}")
    problems += [f"UID {u} shared by {', '.join(n)}" for u, n in uids.items() if len(n) > 1]
    return verdict(problems, expected, "\n".join(found))


@check("tenant_files_private", "a tenant's config, data and media are closed to other users; its signing key to all but itself")
def tenant_files_private(ctx: CheckContext) -> Finding:
    expected = "config/data/media dirs owned by root or the tenant user, no access for others; signing key owned by the tenant user, mode ≤ 0600"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        paths = [tenant.config_dir, tenant.data_dir, tenant.media_dir, tenant.signing_key_path]
        result = ctx.run("stat", "-c", "%n %U %G %a", *paths)
        rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if len(line.split()) == 4}
        seen[tenant.slug] = "; ".join(" ".join([p, *rows.get(p, ["missing"])]) for p in paths)
        issues = []
        for path in paths:
            if path not in rows:
                issues.append(f"{path} missing")
                continue
            user, group, mode = rows[path]
            bits = int(mode, 8)
            if path == tenant.signing_key_path:
                if user != tenant.unix_user or bits & 0o077:
                    issues.append(f"{path} {user}:{group} {mode}")
            elif user not in {"root", tenant.unix_user} or group not in {"root", tenant.unix_user} or bits & 0o007:
                issues.append(f"{path} {user}:{group} {mode}")
        return issues

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("tenant_db_isolated", "each tenant role may connect to its own database and to no other")
def tenant_db_isolated(ctx: CheckContext) -> Finding:
    expected = "has_database_privilege(role, db, CONNECT) true only for the tenant's own database"
    if not ctx.tenants:
        return no_tenants(expected)
    names = ",".join(f"'{t.db_user}'" for t in ctx.tenants)
    ok, rows, error = ctx.psql(f"SELECT r.rolname, d.datname, has_database_privilege(r.rolname, d.datname, 'CONNECT') "
                               f"FROM pg_roles r CROSS JOIN pg_database d WHERE r.rolname IN ({names}) "
                               f"AND NOT d.datistemplate ORDER BY 1, 2")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    own = {t.db_user: t.db_name for t in ctx.tenants}
    problems = []
    for role, db, allowed in rows:
        if allowed == "t" and own.get(role) != db:
            problems.append(f"{role} may connect to {db}")
        if allowed != "t" and own.get(role) == db:
            problems.append(f"{role} may not connect to its own {db}")
    if not rows:
        problems.append("no tenant roles found")
    return verdict(problems, expected, "\n".join(f"{r} → {d}: {'yes' if a == 't' else 'no'}" for r, d, a in rows))


@check("tenant_vhost_routing", "each tenant domain serves its own homeserver (well-known base_url and client API)")
def tenant_vhost_routing(ctx: CheckContext) -> Finding:
    expected = "/.well-known/matrix/client names https://<domain>; /_matrix/client/versions answers 200"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        issues = []
        known = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, "/.well-known/matrix/client")
        base = ""
        if known.ok and known.status == 200:
            try:
                base = json.loads(known.body or b"{}").get("m.homeserver", {}).get("base_url", "")
            except (json.JSONDecodeError, AttributeError):
                base = ""
        if not base.rstrip("/").endswith(f"//{tenant.domain}"):
            issues.append(f"well-known base_url {base or '-'} ({known.status if known.ok else known.error})")
        versions = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, "/_matrix/client/versions")
        if not (versions.ok and versions.status == 200):
            issues.append(f"/_matrix/client/versions → {versions.status if versions.ok else versions.error}")
        seen[tenant.slug] = f"base_url {base}; client API {versions.status if versions.ok else versions.error}"
        return issues

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))
