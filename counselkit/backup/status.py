"""Backup status from the control machine: age of each repository's newest snapshot and bytes stored.

Snapshot ages come from `restic snapshots --json` run here (password and S3 credentials from the secrets
store, handed to restic through its environment only); bytes come from listing the bucket (every object
version under the prefix: what the provider bills, and the figure billing uses).

Exit codes of `counselkit backup status`: 0 every repository fresh, 1 a snapshot stale or missing,
2 a repository could not be checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ..plan import Plan
from .jobs import BackupJob, all_jobs
from .render import Credentials
from .s3 import StorageError, prefix_bytes

FRESH, STALE, MISSING, UNKNOWN = "fresh", "stale", "missing", "unknown"
EXIT_FRESH, EXIT_STALE, EXIT_UNKNOWN = 0, 1, 2
RESTIC_TIMEOUT = 300


class ResticError(Exception):
    """restic could not answer (message without any secret).

    Status runs restic read-only with --no-lock: it must not write lock objects into a versioned bucket
    (they would count as stored bytes and linger as noncurrent versions)."""


@dataclass
class Snapshot:
    id: str
    time: datetime
    host: str
    paths: list[str]


@dataclass
class RepoStatus:
    label: str
    host: str
    newest: Snapshot | None
    snapshots: int
    bytes: int | None
    state: str
    detail: str = ""

    def age(self, now: datetime) -> timedelta | None:
        return None if self.newest is None else now - self.newest.time


def parse_time(text: str) -> datetime:
    """restic's RFC 3339 times carry nanoseconds; Python takes microseconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def classify(newest: Snapshot | None, now: datetime, max_age: timedelta) -> str:
    if newest is None:
        return MISSING
    return FRESH if now - newest.time <= max_age else STALE


def exit_code(statuses: list[RepoStatus]) -> int:
    states = {s.state for s in statuses}
    if UNKNOWN in states:
        return EXIT_UNKNOWN
    if states & {STALE, MISSING}:
        return EXIT_STALE
    return EXIT_FRESH


def restic_env(repository: str, password: str, credentials: Credentials, region: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
    env.update({
        "RESTIC_REPOSITORY": repository,
        "RESTIC_PASSWORD": password,
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_DEFAULT_REGION": region,
    })
    return env


def run_restic(args: list[str], env: dict[str, str], timeout: float = RESTIC_TIMEOUT) -> str:
    binary = shutil.which("restic")
    if binary is None:
        raise ResticError("restic is not installed on this machine (apt-get install restic)")
    try:
        result = subprocess.run([binary, "--no-cache", "--no-lock", *args], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ResticError(f"restic {args[0]} did not answer within {timeout:.0f} s") from None
    if result.returncode != 0:
        message = " ".join(line.strip() for line in result.stderr.strip().splitlines()[-3:])
        if "Is there a repository at the following location" in result.stderr or "repository does not exist" in result.stderr:
            raise FileNotFoundError(message)
        raise ResticError(message or f"restic exited {result.returncode}")
    return result.stdout


def list_snapshots(env: dict[str, str]) -> list[Snapshot]:
    raw = json.loads(run_restic(["snapshots", "--json"], env) or "[]")
    return sorted(
        (Snapshot(id=s["id"], time=parse_time(s["time"]), host=s.get("hostname", ""), paths=s.get("paths", [])) for s in raw or []),
        key=lambda s: s.time,
    )


def _secret_source(plan: Plan, store: Any) -> tuple[Credentials, Callable[[str], str]]:
    credentials = Credentials(
        access_key=store.get(plan.platform_secrets["backup_s3_access_key"]),
        secret_key=store.get(plan.platform_secrets["backup_s3_secret_key"]),
    )
    return credentials, store.get


def repository_status(plan: Plan, job: BackupJob, credentials: Credentials, password: str, now: datetime) -> RepoStatus:
    max_age = timedelta(hours=plan.platform.backup.max_age_hours)
    env = restic_env(job.repository, password, credentials, plan.platform.backup.region)
    try:
        snapshots = list_snapshots(env)
    except FileNotFoundError:
        return RepoStatus(job.label, job.host, None, 0, None, MISSING, "no repository yet (no backup has run)")
    except ResticError as exc:
        return RepoStatus(job.label, job.host, None, 0, None, UNKNOWN, str(exc))
    newest = snapshots[-1] if snapshots else None
    state = classify(newest, now, max_age)
    detail = "" if state == FRESH else ("no snapshot" if newest is None else f"older than {plan.platform.backup.max_age_hours} h")
    return RepoStatus(job.label, job.host, newest, len(snapshots), None, state, detail)


def collect(plan: Plan, store: Any, now: datetime | None = None, workers: int = 8) -> list[RepoStatus]:
    """The status of every repository in the plan (tenants and the per-host platform repositories)."""
    now = now or datetime.now(timezone.utc)
    credentials, secret = _secret_source(plan, store)
    jobs = all_jobs(plan)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = list(pool.map(lambda j: repository_status(plan, j, credentials, secret(j.password_ref), now), jobs))
    try:
        sizes = prefix_bytes(plan.platform.backup, credentials, [j.prefix for j in jobs])
    except StorageError as exc:
        for status in statuses:
            status.state, status.detail = UNKNOWN, str(exc)
        return statuses
    for job, status in zip(jobs, statuses):
        status.bytes = sizes[job.prefix]
    return statuses


def storage_bytes(plan: Plan, store: Any = None, credentials: Credentials | None = None) -> dict[str, int]:
    """Bytes stored per tenant slug (every object version under the tenant's prefix) — the figure billing uses.

    Pass the S3 credentials, or a secrets store (`SecretStore`, anything with `.get(ref)`) holding them.
    Raises StorageError when the bucket cannot be listed.
    """
    if credentials is None:
        if store is None:
            raise ValueError("storage_bytes needs credentials or a secrets store")
        credentials, _ = _secret_source(plan, store)
    slugs = [t.slug for t in plan.tenants()]
    return prefix_bytes(plan.platform.backup, credentials, slugs)


def human_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def human_age(age: timedelta | None) -> str:
    if age is None:
        return "-"
    minutes = int(age.total_seconds() // 60)
    if minutes < 0:
        return "in the future (clock skew?)"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} d {hours % 24} h"


def table(statuses: list[RepoStatus], now: datetime) -> str:
    rows = [("REPOSITORY", "HOST", "NEWEST SNAPSHOT", "AGE", "SNAPSHOTS", "STORED", "BYTES", "STATE")]
    for s in statuses:
        rows.append((
            s.label, s.host,
            s.newest.time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") + f" ({s.newest.id[:8]})" if s.newest else "-",
            human_age(s.age(now)), str(s.snapshots), human_bytes(s.bytes), "-" if s.bytes is None else str(s.bytes),
            s.state.upper() + (f": {s.detail}" if s.detail else ""),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def as_json(statuses: list[RepoStatus], now: datetime) -> list[dict[str, Any]]:
    return [{
        "repository": s.label, "host": s.host, "state": s.state, "detail": s.detail,
        "newest_snapshot": s.newest.id if s.newest else None,
        "newest_time": s.newest.time.isoformat() if s.newest else None,
        "age_seconds": int(s.age(now).total_seconds()) if s.newest else None,
        "snapshots": s.snapshots, "bytes": s.bytes,
    } for s in statuses]
