"""Restore one tenant (or a host's platform repository) from its restic repository onto a host."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import layout
from ..plan import Plan
from .jobs import BackupJob, find_job
from .remote import Remote, RemoteError

SNAPSHOT_ID = re.compile(r"^(latest|[0-9a-f]{8,64})$")
UNTOUCHED_EXIT = 5  # counselkit-backup restore: the snapshot did not restore and nothing live was changed


class RestoreError(Exception):
    pass


@dataclass
class RestoreResult:
    job: BackupJob
    host: str
    snapshot: str
    returncode: int


def restore(plan: Plan, label: str, remote: Remote, snapshot: str = "latest", to_host: str | None = None,
            stream: bool = True) -> RestoreResult:
    """Run `counselkit-backup restore` for one job on its host (or `to_host`). Touches nothing of other tenants:
    the script stops only this tenant's unit and replaces only its database, media store and signing key.

    The database is restored into a scratch database and checked (pg_restore without error, every table of the
    dump present) while the tenant keeps running; only then is the unit stopped and the scratch database swapped
    in. A dump that does not restore ends the restore with the live database and the running unit untouched."""
    try:
        job = find_job(plan, label)
    except LookupError as exc:
        raise RestoreError(str(exc)) from None
    if not SNAPSHOT_ID.match(snapshot):
        raise RestoreError(f"'{snapshot}' is not a snapshot id (8 to 64 hex digits, or 'latest')")
    host = to_host or job.host
    if host not in {h.name for h in plan.hosts}:
        raise RestoreError(f"no host '{host}' in tenants.yaml (hosts: {', '.join(h.name for h in plan.hosts)})")
    if host != job.host and job.kind == "platform":
        raise RestoreError("a platform repository belongs to its host; restore it there (omit --to)")
    names = job.names
    check = remote.run(host, ["test", "-r", names["job_file"]], timeout=60)
    if check.returncode == 255:
        raise RestoreError(f"cannot reach {host} over SSH: {check.stderr.strip()}")
    if check.returncode != 0:
        raise RestoreError(
            f"{label} is not deployed on {host} ({names['job_file']} is missing). Deploy first: on a rebuilt host run "
            f"the deploy; to move a tenant, pin it to {host} in the lock file and deploy, then restore.")
    result = remote.run(host, [layout.BACKUP_SCRIPT, "restore", job.name, snapshot], stream=stream)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] or ["see the output above"]
        if result.returncode == UNTOUCHED_EXIT:
            detail = [f"the snapshot did not restore ({detail[0]}); the live database, files and running service of "
                      f"{label} are untouched"]
        raise RestoreError(f"restore of {label} on {host} failed (exit {result.returncode}): {detail[0]}")
    return RestoreResult(job, host, snapshot, result.returncode)


def run_backup(plan: Plan, label: str, remote: Remote) -> tuple[int, str]:
    """Start one backup job now through systemd (waits for it); returns (exit status, last-run status JSON)."""
    try:
        job = find_job(plan, label)
    except LookupError as exc:
        raise RestoreError(str(exc)) from None
    started = remote.run(job.host, ["systemctl", "start", job.names["service"]])
    if started.returncode == 255:
        raise RemoteError(f"cannot reach {job.host} over SSH: {started.stderr.strip()}")
    status = remote.run(job.host, [layout.BACKUP_SCRIPT, "status", job.name], timeout=60)
    return started.returncode, status.stdout.strip()
