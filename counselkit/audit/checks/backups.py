"""Checks of backups."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from counselkit import layout

from ..context import CheckContext, Finding, verdict
from .registry import check, no_tenants, per_tenant


def _backup_timers(ctx: CheckContext) -> list[str]:
    out = ctx.out("systemctl", "list-units", "--all", "--type=timer", "--plain", "--no-legend", "--no-pager")
    return [line.split()[0] for line in out.splitlines() if line.split() and "backup" in line.split()[0]]


@check("backup_timers_active", "a backup timer is active for every tenant and its last run succeeded")
def backup_timers_active(ctx: CheckContext) -> Finding:
    expected = "an active *backup* timer per tenant (or one for all); its service ran and Result=success"
    timers = _backup_timers(ctx)
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        names = layout.backup_job_names(tenant.slug) if hasattr(layout, "backup_job_names") else None
        if names:
            timer, service = names["timer"], names["service"]
        else:  # layout without backup names: any timer naming the tenant
            mine = [t for t in timers if tenant.slug in t]
            if not mine:
                return [f"no backup timer (timers: {', '.join(timers) or 'none'})"]
            timer, service = mine[0], mine[0].removesuffix(".timer") + ".service"
        issues = []
        active = ctx.out("systemctl", "is-active", timer).strip() or "inactive"
        out = ctx.out("systemctl", "show", service, "--property=Result", "--property=ExecMainExitTimestamp",
                      "--property=ExecMainStatus")
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        seen[tenant.slug] = f"{timer} {active}; {service} last exit {values.get('ExecMainExitTimestamp') or 'never'}, " \
                            f"Result={values.get('Result')}"
        if active != "active":
            issues.append(f"{timer} {active}")
        if not values.get("ExecMainExitTimestamp"):
            issues.append(f"{service} never ran")
        elif values.get("Result") != "success" or values.get("ExecMainStatus") not in {"0", None}:
            issues.append(f"{service} Result={values.get('Result')} status {values.get('ExecMainStatus')}")
        return issues

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


def _restic(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    # --no-lock and --no-cache: reading the repository leaves no lock in it and no cache on disk.
    return subprocess.run(["restic", "--no-lock", "--no-cache", "--quiet", *args], env=env, capture_output=True,
                          timeout=300, check=False)


@check("backup_repository_restorable", "each tenant's restic repository is encrypted and its latest snapshot can be read back")
def backup_repository_restorable(ctx: CheckContext) -> Finding:
    expected = ("from the auditing machine: a wrong password is refused; the right one lists ≥ 1 snapshot made by this "
                "host holding the signing key, which restic can decrypt and read back (`restic dump`, nothing written)")
    if not ctx.tenants:
        return no_tenants(expected)
    if ctx.secrets is None:
        return Finding("error", expected, "no secrets store given",
                       "not evaluated: pass --secrets (and the vault password) so the audit can open the repositories")
    import os
    import shutil

    if shutil.which("restic") is None:
        return Finding("error", expected, "restic not installed on the auditing machine", "not evaluated: apt-get install restic")
    platform = ctx.plan.platform
    problems, found = [], []
    for tenant in ctx.tenants:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
               "RESTIC_REPOSITORY": tenant.backup_repository,
               "AWS_ACCESS_KEY_ID": ctx.secrets.get(layout.platform_secret_ref("backup_s3_access_key")),
               "AWS_SECRET_ACCESS_KEY": ctx.secrets.get(layout.platform_secret_ref("backup_s3_secret_key")),
               "AWS_DEFAULT_REGION": platform.backup.region}
        wrong = _restic({**env, "RESTIC_PASSWORD": "counselkit-audit-wrong-password"}, "cat", "config")
        if wrong.returncode == 0:
            problems.append(f"{tenant.slug}: repository opens with a wrong password")
        env["RESTIC_PASSWORD"] = ctx.secrets.get(tenant.secrets["restic_password"])
        # Only this host's snapshots are its evidence: a repository belongs to the tenant, and after a move (or on a
        # host never deployed) it holds another host's backups, which prove nothing about this one.
        snapshots = _restic(env, "snapshots", "--json", "--host", ctx.plan_host.name)
        if snapshots.returncode != 0:
            problems.append(f"{tenant.slug}: cannot list snapshots: {snapshots.stderr.decode()[:300]}")
            continue
        listed = json.loads(snapshots.stdout or b"[]")
        if not listed:
            problems.append(f"{tenant.slug}: no snapshot made by {ctx.plan_host.name}")
            continue
        dump = _restic(env, "dump", "--host", ctx.plan_host.name, "latest", tenant.signing_key_path)
        if dump.returncode != 0 or not dump.stdout:
            problems.append(f"{tenant.slug}: signing key not restorable from latest snapshot: {dump.stderr.decode()[:300]}")
        latest = max(listed, key=lambda s: s.get("time", ""))
        found.append(f"{tenant.slug}: {len(listed)} snapshot(s), latest {latest.get('time', '?')[:19]}, "
                     f"signing key read back ({len(dump.stdout)} bytes, not shown); wrong password refused")
    return verdict(problems, expected, "\n".join(found))
