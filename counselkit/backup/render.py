"""The backup files of one host, rendered from templates/backup/: script, systemd units, per-job config.

The deploy (deploy/backup.py) only copies what this returns; unit tests render the same.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import layout
from .. import render as templates
from ..plan import Plan
from .jobs import BackupJob, host_jobs, retention_flags

MANAGED_BANNER = "Managed by counselkit (templates/backup); local changes are overwritten."
HOST_LOCK_WAIT_SECONDS = 6 * 3600  # a job waits this long for the other jobs of its host
JOB_TIMEOUT_SECONDS = 6 * 3600
RANDOMIZED_DELAY = "15min"


@dataclass(frozen=True)
class HostFile:
    path: str
    content: str
    mode: str  # octal, e.g. "0600"
    secret: bool = False  # holds credentials: never shown in diffs or logs


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


def no_proxy(plan: Plan) -> str:
    """restic's NO_PROXY: loopback and whatever the platform reaches directly (e.g. an S3 endpoint nearby)."""
    return ",".join(["localhost", "127.0.0.1", "::1", *plan.platform.no_proxy])


def _bypasses_proxy(host: str, no_proxy: list[str]) -> bool:
    """Whether restic (Go's NO_PROXY rules) reaches `host` directly: the entry itself or a name below it."""
    entries = [entry.lower().lstrip(".") for entry in no_proxy]  # addresses or DNS names (model: NetAddress)
    return any(host == entry or host.endswith("." + entry) for entry in entries)


def egress(plan: Plan) -> dict[str, Any]:
    """Where a backup job connects besides loopback: the proxy, and S3 itself when it is not reached through it.

    ``ip_allow`` lists the addresses for the unit's IPAddressAllow= when every destination is an IP literal;
    it is None when one is a host name (systemd filters addresses, not names), with the reason.
    """
    s3 = urlsplit(str(plan.platform.backup.s3_endpoint)).hostname or ""
    proxy = urlsplit(str(plan.platform.proxy)).hostname if plan.platform.proxy else None
    urls = [str(plan.platform.proxy)] if proxy else []
    if proxy is None or _bypasses_proxy(s3, [str(e) for e in plan.platform.no_proxy]):
        urls.append(str(plan.platform.backup.s3_endpoint))
    destinations = list(dict.fromkeys(_destination(url) for url in urls))  # proxy and S3 may be one machine
    hosts = list(dict.fromkeys(host for host, _ in destinations))
    names = [h for h in hosts if not _is_ip(h)]
    # For nftables: (address or None for "any address", TCP port); a name needs DNS and any address on its port.
    rules = [{"address": h if _is_ip(h) else None, "ip6": ":" in h, "port": port} for h, port in destinations]
    if names:
        return {"hosts": hosts, "ip_allow": None, "rules": rules, "dns": True,
                "reason": f"{', '.join(names)} is a name, not an address"}
    return {"hosts": hosts, "ip_allow": hosts, "rules": rules, "dns": False, "reason": ""}


def _destination(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def common_context(plan: Plan) -> dict[str, Any]:
    """What every backup template sees (the host vars' ``backup.common``: the Ansible role gets the same)."""
    return {
        "egress": egress(plan),
        "backup_group": layout.BACKUP_GROUP,
        "egress_rules": layout.BACKUP_EGRESS_RULES,
        "managed_banner": MANAGED_BANNER,
        "script": layout.BACKUP_SCRIPT,
        "config_root": layout.BACKUP_CONFIG_ROOT,
        "state_root": layout.BACKUP_STATE_ROOT,
        "lock_dir": layout.BACKUP_LOCK_DIR,
        "host_lock": layout.BACKUP_HOST_LOCK,
        "host_lock_wait": HOST_LOCK_WAIT_SECONDS,
        "dump_name": layout.BACKUP_DUMP_NAME,
        "dump_role": layout.POSTGRES_SUPERUSER,
        "schedule": plan.platform.backup.schedule,
        "randomized_delay": RANDOMIZED_DELAY,
        "timeout_seconds": JOB_TIMEOUT_SECONDS,
    }


def render(name: str, **context: Any) -> str:
    """templates/backup/<name>, in the one template environment (counselkit.render)."""
    return templates.render(f"backup/{name}", context)


def job_extra(plan: Plan) -> dict[str, Any]:
    """What job.conf.j2 and restic.env.j2 see beyond the common context and the job (no secrets)."""
    return {
        "keep_flags": retention_flags(plan.platform.backup.retention),
        "region": plan.platform.backup.region,
        "proxy": str(plan.platform.proxy) if plan.platform.proxy else "",
        "no_proxy": no_proxy(plan),
    }


def plain_data(plan: Plan, host: str) -> dict[str, Any]:
    """The host vars' ``backup``: the template contexts of templates/backup/ without secrets, as plain data."""
    jobs = [{**asdict(job), "databases": list(job.databases), "paths": list(job.paths), "label": job.label,
             "db_owner": plan.tenant(job.name).db_user if job.kind == "tenant" else ""}
            for job in host_jobs(plan, host)]
    return {"common": common_context(plan), "job_extra": job_extra(plan), "jobs": jobs}


def job_context(plan: Plan, job: BackupJob, credentials: Credentials) -> dict[str, Any]:
    """The context of job.conf.j2 and restic.env.j2 for one job."""
    return common_context(plan) | job_extra(plan) | {
        "job": job,
        "db_owner": plan.tenant(job.name).db_user if job.kind == "tenant" else "",
        "s3_access_key": credentials.access_key,
        "s3_secret_key": credentials.secret_key,
    }


def job_files(plan: Plan, job: BackupJob, credentials: Credentials, restic_password: str) -> list[HostFile]:
    """One job's files, as the component spec lists them (counselkit.components.backup.JOB_FILES)."""
    from ..components.backup import JOB_FILE_MODE, JOB_FILES

    context = job_context(plan, job, credentials)
    files = [HostFile(job.names[key], templates.render(name, context), JOB_FILE_MODE, secret=sensitive)
             for name, (key, sensitive) in JOB_FILES.items()]
    return files + [HostFile(job.names["password_file"], restic_password + "\n", JOB_FILE_MODE, secret=True)]


def common_files(plan: Plan) -> list[HostFile]:
    """The host-wide files, as the component spec lists them (counselkit.components.backup.COMMON_FILES)."""
    from ..components.backup import COMMON_FILES

    context = common_context(plan)
    return [HostFile(dest, templates.render(name, context), mode) for name, (dest, mode, _) in COMMON_FILES.items()]


def host_files(plan: Plan, host: str, credentials: Credentials, passwords: dict[str, str]) -> list[HostFile]:
    """Everything backup puts on `host`; passwords maps secret reference -> restic password."""
    files = common_files(plan)
    for job in host_jobs(plan, host):
        files += job_files(plan, job, credentials, passwords[job.password_ref])
    return files


def host_secrets(plan: Plan, host: str, store: Any) -> tuple[Credentials, dict[str, str]]:
    """S3 credentials and restic passwords for `host` from the secrets store (SecretStore-like: .get(ref))."""
    credentials = Credentials(
        access_key=store.get(plan.platform_secrets["backup_s3_access_key"]),
        secret_key=store.get(plan.platform_secrets["backup_s3_secret_key"]),
    )
    passwords = {job.password_ref: store.get(job.password_ref) for job in host_jobs(plan, host)}
    return credentials, passwords
