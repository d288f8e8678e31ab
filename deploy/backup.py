"""pyinfra deploy: restic backups of every tenant on this host (and the host's platform job, Keycloak's DB).

Call it last from deploy/site.py, after PostgreSQL, Synapse and Keycloak:

    from deploy import backup
    backup.install(plan=plan, secrets=store)   # or put both into host.data (see _inputs)

It installs restic, the job script (layout.BACKUP_SCRIPT), the systemd template units
counselkit-backup@.service/.timer and, per job, root-only (0700 dir, 0600 files) job.conf, restic.env with the
S3 credentials and restic.password; then enables one timer per job. Files go through deploy.managed (content
never printed, upload to a temporary name inside the root-only directory, then renamed), so no credential
reaches a log, a command line or a world-readable place.
"""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, server, systemd

from counselkit import layout
from counselkit.backup.jobs import host_jobs
from counselkit.backup.render import common_files, host_secrets, job_files

from .common import directory, put

PACKAGES = ["restic", "python3", "util-linux"]  # pg_dump/pg_restore come with the PostgreSQL deploy


def _inputs(plan: Any, secrets: Any, host_name: str | None) -> tuple[Any, Any, str]:
    plan = plan or host.data.get("counselkit_plan")
    secrets = secrets or host.data.get("counselkit_secrets")
    host_name = host_name or host.data.get("counselkit_host") or host.name
    if plan is None or secrets is None:
        raise ValueError("deploy.backup.install needs plan= and secrets= (or host.data counselkit_plan / counselkit_secrets)")
    return plan, secrets, host_name


@deploy("counselkit backup")
def install(plan: Any = None, secrets: Any = None, host_name: str | None = None) -> None:
    plan, secrets, host_name = _inputs(plan, secrets, host_name)
    credentials, passwords = host_secrets(plan, host_name, secrets)

    apt.packages(name="Install restic", packages=PACKAGES)
    # The jobs' group exists before the egress rules naming it are loaded.
    server.group(name=f"Group {layout.BACKUP_GROUP}", group=layout.BACKUP_GROUP, system=True)
    directory(name="nftables egress rules dir", path=layout.NFTABLES_EGRESS_DIR)

    for path in (layout.BACKUP_CONFIG_ROOT, layout.BACKUP_STATE_ROOT, layout.BACKUP_LOCK_DIR):
        directory(name=f"Backup directory {path}", path=path, user="root", group="root", mode="0700")

    units_changed = False
    for f in common_files(plan):
        op = put(f"Backup: {f.path}", f.path, f.content, mode=f.mode)
        units_changed = units_changed or (f.path.startswith("/etc/systemd/") and op.will_change)
        if f.path == layout.BACKUP_EGRESS_RULES:
            server.shell(name="nftables: backup egress rules loaded", commands=[layout.NFTABLES_RELOAD],
                         _if=op.did_change)

    jobs = host_jobs(plan, host_name)
    for job in jobs:
        names = job.names
        for path in (names["config_dir"], names["state_dir"]):
            directory(name=f"Backup {job.label}: {path}", path=path, user="root", group="root", mode="0700")
        for f in job_files(plan, job, credentials, passwords[job.password_ref]):
            # Secret files (0600, root-only directory) are uploaded next to their destination and never printed.
            put(f"Backup {job.label}: {f.path}" + (" (secret)" if f.secret else ""), f.path, f.content, mode=f.mode)

    for index, job in enumerate(jobs):
        systemd.service(
            name=f"Backup timer {job.names['timer']}",
            service=job.names["timer"],
            running=True,
            enabled=True,
            daemon_reload=units_changed and index == 0,
        )
