"""Checks of backups."""

from __future__ import annotations

import json
import shlex
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


def host_backup_state(ctx: CheckContext, job: str) -> tuple[str | None, dict[str, Any] | None, list[str]]:
    """What the host itself says about its backup job: the repository its job is configured for and the status
    its last run wrote (snapshot ID). Read on the host, so a host without a job of its own has no evidence, whatever
    the repository holds. Only the repository line of restic.env is read: the file's other lines are credentials."""
    names = layout.backup_job_names(job)
    problems: list[str] = []
    env = ctx.run("grep", "-h", "-E", "^RESTIC_REPOSITORY=", names["env_file"])
    repository = None
    if env.rc != 0 or not env.stdout.strip():
        problems.append(f"no backup job configured on this host ({names['env_file']} has no RESTIC_REPOSITORY)")
    else:
        try:
            words = shlex.split(env.stdout.strip().splitlines()[0].split("=", 1)[1])
        except ValueError:
            words = []
        repository = words[0] if len(words) == 1 else None
        if repository is None:
            problems.append(f"{names['env_file']}: unreadable RESTIC_REPOSITORY line")
    status_out = ctx.run("cat", names["status_file"])
    status = None
    if status_out.rc != 0:
        problems.append(f"the job never recorded a run on this host ({names['status_file']} missing)")
    else:
        try:
            status = json.loads(status_out.stdout)
        except ValueError:
            problems.append(f"{names['status_file']} is not JSON")
        else:
            if not isinstance(status, dict) or not status.get("ok") or not status.get("snapshot_id"):
                problems.append(f"the host's last run made no snapshot: {str(status)[:200]}")
                status = None
    return repository, status, problems


@check("backup_repository_restorable", "each tenant's restic repository is encrypted and its latest snapshot can be read back")
def backup_repository_restorable(ctx: CheckContext) -> Finding:
    expected = ("on the host: its backup job names the tenant's planned repository and its last run recorded a snapshot; "
                "from the auditing machine: a wrong password is refused, and that snapshot exists, was made by this host "
                "and holds the signing key, which restic decrypts and reads back (`restic dump`, nothing written)")
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
        # The host's own word first: which repository its job writes to and which snapshot its last run made. The
        # plan's repository belongs to the tenant, and after a move (or for a host never deployed) it holds another
        # host's backups, which prove nothing about this one.
        repository, status, issues = host_backup_state(ctx, tenant.slug)
        if repository is not None and repository != tenant.backup_repository:
            issues.append(f"the host's job writes to {repository}, not the planned {tenant.backup_repository}")
        if issues:
            problems += [f"{tenant.slug}: {issue}" for issue in issues]
            continue
        assert status is not None
        snapshot = str(status["snapshot_id"])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
               "RESTIC_REPOSITORY": tenant.backup_repository,
               "AWS_ACCESS_KEY_ID": ctx.secrets.get(layout.platform_secret_ref("backup_s3_access_key")),
               "AWS_SECRET_ACCESS_KEY": ctx.secrets.get(layout.platform_secret_ref("backup_s3_secret_key")),
               "AWS_DEFAULT_REGION": platform.backup.region}
        wrong = _restic({**env, "RESTIC_PASSWORD": "counselkit-audit-wrong-password"}, "cat", "config")
        if wrong.returncode == 0:
            problems.append(f"{tenant.slug}: repository opens with a wrong password")
        env["RESTIC_PASSWORD"] = ctx.secrets.get(tenant.secrets["restic_password"])
        listed_run = _restic(env, "snapshots", "--json", snapshot)
        if listed_run.returncode != 0:
            problems.append(f"{tenant.slug}: snapshot {snapshot[:8]} of the host's last run not in the repository: "
                            f"{listed_run.stderr.decode()[:300]}")
            continue
        try:
            listed = json.loads(listed_run.stdout or b"[]")
        except ValueError:
            listed = []
        made_by = {s.get("hostname") for s in listed if isinstance(s, dict)}
        if made_by != {ctx.plan_host.name}:
            problems.append(f"{tenant.slug}: snapshot {snapshot[:8]} was made by {sorted(made_by) or 'nobody'}, "
                            f"not {ctx.plan_host.name}")
            continue
        dump = _restic(env, "dump", snapshot, tenant.signing_key_path)
        if dump.returncode != 0 or not dump.stdout:
            problems.append(f"{tenant.slug}: signing key not restorable from snapshot {snapshot[:8]}: "
                            f"{dump.stderr.decode()[:300]}")
            continue
        found.append(f"{tenant.slug}: the host's last run ({str(status.get('finished', '?'))[:19]}) made snapshot "
                     f"{snapshot[:8]} in {repository}; signing key read back ({len(dump.stdout)} bytes, not shown); "
                     "wrong password refused")
    return verdict(problems, expected, "\n".join(found))
