"""restic backups as a component spec (deploy/backup.py and roles/backup loop over it).

Packages, the jobs' group (their egress rules match it), the root-only directories, the host-wide files (job
script, template units, egress rules) and each job's job.conf and restic.env, the daemon-reload and egress-rule load
of what changed, and one timer per job. The templates of templates/backup/ are rendered with backup's own context
(``File.context``: "common", or the job's name; counselkit.backup.render builds it from the host vars' plain
``backup`` data plus the S3 keys). The restic passwords are no template: ``layout["passwords"]`` lists them
(secret reference -> file), and each engine writes the value.
"""

from __future__ import annotations

from typing import Any

from counselkit import layout

from . import Component, Directory, File, Handler, Service

PACKAGES = ("restic", "python3", "util-linux")  # pg_dump/pg_restore come with the PostgreSQL component
RELOAD_UNITS = "Reload systemd units (backup)"
LOAD_EGRESS = "Load egress rules (backup)"
COMMON = "common"  # File.context of the host-wide files
ROOT_ONLY = "0700"
JOB_FILE_MODE = "0600"

# template -> (destination, mode, handler): the host-wide files, in deploy order
COMMON_FILES: dict[str, tuple[str, str, str | None]] = {
    "backup/counselkit-backup.sh.j2": (layout.BACKUP_SCRIPT, "0750", None),
    "backup/counselkit-backup@.service.j2": (f"/etc/systemd/system/{layout.BACKUP_SERVICE_TEMPLATE}", "0644",
                                             RELOAD_UNITS),
    "backup/counselkit-backup@.timer.j2": (f"/etc/systemd/system/{layout.BACKUP_TIMER_TEMPLATE}", "0644", RELOAD_UNITS),
    "backup/egress-backup.nft.j2": (layout.BACKUP_EGRESS_RULES, layout.NFTABLES_EGRESS_MODE, LOAD_EGRESS),
}
# template -> (key of its destination in layout.backup_job_names, sensitive): each job's files
JOB_FILES: dict[str, tuple[str, bool]] = {
    "backup/job.conf.j2": ("job_file", False),
    "backup/restic.env.j2": ("env_file", True),  # the S3 credentials
}


def _directories(jobs: list[dict[str, Any]]) -> list[Directory]:
    found = [Directory(layout.NFTABLES_EGRESS_DIR)]  # nftables.conf includes its *.nft
    found += [Directory(p, mode=ROOT_ONLY) for p in (layout.BACKUP_CONFIG_ROOT, layout.BACKUP_STATE_ROOT,
                                                      layout.BACKUP_LOCK_DIR)]
    for job in jobs:
        found += [Directory(job["names"][key], mode=ROOT_ONLY) for key in ("config_dir", "state_dir")]
    return found


def _files(jobs: list[dict[str, Any]]) -> list[File]:
    found = [File(template=name, dest=dest, mode=mode, handler=handler, context=COMMON)
             for name, (dest, mode, handler) in COMMON_FILES.items()]
    for job in jobs:
        found += [File(template=name, dest=job["names"][key], mode=JOB_FILE_MODE, sensitive=sensitive,
                       context=job["name"]) for name, (key, sensitive) in JOB_FILES.items()]
    return found


def backup(vars: dict[str, Any]) -> Component:
    """The backup jobs of one host (vars: counselkit.render.host_vars of it, its ``backup`` data)."""
    data = vars["backup"]
    jobs = data["jobs"]
    s3_refs = [vars["platform_secrets"]["backup_s3_access_key"], vars["platform_secrets"]["backup_s3_secret_key"]]
    passwords = [{"job": j["name"], "label": j["label"], "ref": j["password_ref"], "dest": j["names"]["password_file"],
                  "mode": JOB_FILE_MODE} for j in jobs]
    return Component(
        name="backup",
        packages=PACKAGES,
        groups=(layout.BACKUP_GROUP,),  # before the egress rules naming it are loaded
        directories=tuple(_directories(jobs)),
        files=tuple(_files(jobs)),
        handlers=(Handler(RELOAD_UNITS, daemon_reload=True),
                  Handler(LOAD_EGRESS, argv=("sh", "-c", layout.NFTABLES_RELOAD))),
        services=tuple(Service(j["names"]["timer"]) for j in jobs),
        layout={"passwords": passwords, "s3_refs": s3_refs},
        secrets=tuple(s3_refs + sorted({p["ref"] for p in passwords})),
    )


def components(vars: dict[str, Any]) -> dict[str, Component]:
    return {"backup": backup(vars)}
