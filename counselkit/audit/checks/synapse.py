"""Checks of each tenant's Synapse."""

from __future__ import annotations

import re
from typing import Any

from counselkit import layout

from .. import netprobe
from ..context import CheckContext, Finding, failed, is_loopback, verdict
from .registry import check, per_tenant


SANDBOX = {"NoNewPrivileges": {"yes"}, "ProtectSystem": {"strict", "full"}, "PrivateTmp": {"yes"}}


@check("synapse_units_sandboxed", "each tenant's matrix-synapse@<slug> unit runs, as its own user, sandboxed by systemd")
def synapse_units_sandboxed(ctx: CheckContext) -> Finding:
    expected = "ActiveState=active, User=<tenant user>, process owned by it, NoNewPrivileges=yes, ProtectSystem=strict|full, PrivateTmp=yes"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        props = ["ActiveState", "User", "MainPID", *SANDBOX]
        out = ctx.out("systemctl", "show", tenant.unit, *(f"--property={p}" for p in props))
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        seen[tenant.slug] = ", ".join(f"{k}={values.get(k, '?')}" for k in props)
        issues = []
        if values.get("ActiveState") != "active":
            issues.append(f"{tenant.unit} {values.get('ActiveState', 'unknown')}")
        if values.get("User") != tenant.unix_user:
            issues.append(f"User={values.get('User') or '(root)'} (expected {tenant.unix_user})")
        issues += [f"{k}={values.get(k, '?')}" for k, allowed in SANDBOX.items() if values.get(k) not in allowed]
        pid = values.get("MainPID", "0")
        if pid not in {"", "0"}:
            owner = ctx.out("ps", "-o", "user:64=", "-p", pid).strip()
            seen[tenant.slug] += f", process owner {owner}"
            if owner != tenant.unix_user:
                issues.append(f"process {pid} runs as {owner}")
        return issues

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


# `systemd-analyze security` rates a unit's exposure from 0 (locked down) to 10; up to 2.0 is "OK".
UNIT_EXPOSURE_MAX = 2.0
_OVERALL = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?) ")


def counselkit_units(ctx: CheckContext) -> list[str]:
    """Every unit counselkit installs on this host, by the plan: the tenants' Synapse instances, the backup jobs,
    the AIDE baseline unit, and Keycloak where it is planned."""
    from counselkit.backup.jobs import host_jobs

    units = [t.unit for t in ctx.tenants]
    units += [job.names["service"] for job in host_jobs(ctx.plan, ctx.plan_host.name)]
    units.append(layout.AIDE_INIT_UNIT)
    if ctx.plan.platform.artifacts.keycloak is not None:
        units.append(layout.KEYCLOAK_UNIT)
    return units


def exposure_scores(output: str) -> dict[str, float]:
    """unit -> overall exposure, from the text of `systemd-analyze security UNIT...` (its JSON has no total)."""
    return {m.group(1): float(m.group(2)) for m in _OVERALL.finditer(output)}


def exposure_problems(scores: dict[str, float], units: list[str], limit: float = UNIT_EXPOSURE_MAX) -> list[str]:
    problems = [f"{unit}: exposure {scores[unit]:.1f} (> {limit:.1f})" for unit in units
                if unit in scores and scores[unit] > limit]
    problems += [f"{unit}: no score in the output of systemd-analyze security" for unit in units if unit not in scores]
    return problems


@check("units_exposure_ok", f"systemd-analyze security: every counselkit unit's exposure is at most {UNIT_EXPOSURE_MAX}")
def units_exposure_ok(ctx: CheckContext) -> Finding:
    expected = f"overall exposure ≤ {UNIT_EXPOSURE_MAX} (\"OK\") for every installed counselkit unit"
    planned = counselkit_units(ctx)
    out = ctx.out("systemctl", "show", "--property=Id", "--property=LoadState", *planned)
    states = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line) for block in out.split("\n\n")]
    loaded = [s["Id"] for s in states if s.get("LoadState") == "loaded" and s.get("Id")]
    missing = [u for u in planned if u not in loaded]
    if not loaded:
        return failed(expected, f"none of the planned units is installed: {', '.join(planned)}")
    result = ctx.run("systemd-analyze", "security", "--no-pager", *loaded)
    scores = exposure_scores(result.stdout)
    problems = exposure_problems(scores, loaded)
    found = [f"{unit}: {scores[unit]:.1f}" for unit in loaded if unit in scores]
    found += [f"{unit}: not installed (not assessed)" for unit in missing]
    return verdict(problems, expected, "\n".join(found))


@check("synapse_loopback_only", "each tenant's Synapse listens on 127.0.0.1:<planned port> only")
def synapse_loopback_only(ctx: CheckContext) -> Finding:
    expected = "a listener on the tenant's planned loopback port, none on other addresses"
    listeners = ctx.listeners or []

    def probe(tenant: Any) -> list[str]:
        mine = [(a, p) for proto, a, p, _ in listeners if proto == "tcp" and p == tenant.synapse_port]
        if not mine:
            return [f"nothing listens on port {tenant.synapse_port}"]
        return [f"listens on {a}:{p}" for a, p in mine if not is_loopback(a)]

    return per_tenant(ctx, expected, probe, lambda t: f"127.0.0.1:{t.synapse_port}")


@check("synapse_registration_closed", "public registration is refused on each tenant homeserver")
def synapse_registration_closed(ctx: CheckContext) -> Finding:
    expected = "GET /_matrix/client/v3/register/available → 403 M_FORBIDDEN (registration disabled)"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        answer = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain,
                              "/_matrix/client/v3/register/available?username=counselkit-audit-probe")
        body = answer.body.decode("utf-8", "replace")[:300]
        seen[tenant.slug] = f"HTTP {answer.status} {body}" if answer.ok else answer.error
        if not answer.ok:
            return [f"no answer: {answer.error}"]
        if answer.status == 403 and "M_FORBIDDEN" in body:
            return []
        return [f"HTTP {answer.status} {body}"]

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("synapse_federation_off", "federation endpoints are not reachable on tenant domains that did not opt in")
def synapse_federation_off(ctx: CheckContext) -> Finding:
    # /.well-known/matrix/server is only a delegation hint (served for every tenant, as clients expect); what
    # federation needs are the server-server and key APIs, so those are probed.
    expected = ("/_matrix/federation/v1/version and /_matrix/key/v2/server not 2xx unless the tenant has "
                "federation: true; nothing on 8448")
    listeners = ctx.listeners or []
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        if tenant.tenant.federation:
            seen[tenant.slug] = "federation enabled in tenants.yaml (federation: true)"
            return []
        issues = []
        results = []
        for path in ("/_matrix/federation/v1/version", "/_matrix/key/v2/server"):
            answer = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, path)
            results.append(f"{path} → {answer.status if answer.ok else answer.error}")
            if not answer.ok:
                issues.append(f"{path}: no answer ({answer.error})")
            elif 200 <= answer.status < 300:
                issues.append(f"{path} answers {answer.status}")
        seen[tenant.slug] = "; ".join(results)
        return issues

    finding = per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))
    federation_port = [f"{a}:{p}" for proto, a, p, _ in listeners if proto == "tcp" and p == 8448]
    if federation_port and finding.status in {"pass", "na"}:
        return failed(expected, f"listening on {', '.join(federation_port)}")
    return finding
