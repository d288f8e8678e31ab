"""`counselkit backup`: provision the bucket, report status (for monitoring and billing), run and restore jobs."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from ..options import tenants_option as _tenants_option

tenants_option = _tenants_option(aliases=("--file",))  # --file: the flag's older name
lab_option = click.option("--lab", is_flag=True, help="Use the running lab: its host addresses, SSH key, proxy and S3 endpoint.")


class BackupFailure(click.ClickException):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _context(tenants_file: Path, lab: bool) -> tuple[Any, Any, Any]:
    """(plan, secrets store, remote) with every expected failure turned into a message."""
    from ..plan import load_plan
    from ..problems import InputError
    from ..secrets import SecretStore, SecretsError
    from .remote import LabRemote, RemoteError, SshRemote, lab_site

    try:
        site, state = lab_site() if lab else (None, None)
        plan = load_plan(tenants_file, site=site)
        store = SecretStore.open(tenants_file)
    except InputError as exc:
        raise BackupFailure(exc.summary(), 2) from None
    except (SecretsError, RemoteError, OSError) as exc:
        raise BackupFailure(str(exc), 2) from None
    except Exception as exc:  # the lab's own errors and the like: a message, never a traceback
        raise BackupFailure(str(exc), 2) from None
    remote = LabRemote(state) if lab else SshRemote(plan)
    return plan, store, remote


def _credentials(plan: Any, store: Any) -> Any:
    from ..secrets import SecretsError
    from .render import Credentials

    try:
        return Credentials(access_key=store.get(plan.platform_secrets["backup_s3_access_key"]),
                           secret_key=store.get(plan.platform_secrets["backup_s3_secret_key"]))
    except SecretsError as exc:
        raise BackupFailure(str(exc), 2) from None


@click.group("backup")
def backup() -> None:
    """Backups with restic to S3: one repository per tenant, one per host for the platform."""


@backup.command("provision")
@tenants_option
@lab_option
@click.option("--strict", is_flag=True, help="Exit 1 when the provider lacks a feature (object lock, lifecycle, ...).")
def provision_command(tenants_file: Path, lab: bool, strict: bool) -> None:
    """Create or check the bucket: versioning, lifecycle rules, object lock; report what the provider lacks.

    Exit status: 0 done (unsupported features are reported as UNSUPPORTED), 1 with --strict when a feature is
    missing, 2 when the bucket cannot be reached or created."""
    from .s3 import StorageError, provision

    plan, store, _ = _context(tenants_file, lab)
    backup_settings = plan.platform.backup
    try:
        checks = provision(backup_settings, _credentials(plan, store))
    except StorageError as exc:
        raise BackupFailure(str(exc), 2) from None
    click.echo(f"bucket {backup_settings.bucket} at {backup_settings.s3_endpoint} ({backup_settings.region})")
    for check in checks:
        click.echo(f"  {check.state.upper():<12} {check.name:<22} {check.detail}")
    problems = [c for c in checks if c.problem]
    if problems:
        click.echo(f"{len(problems)} feature(s) not available from this provider: "
                   + ", ".join(c.name for c in problems) + " (see docs/backup.md)", err=True)
        if strict:
            sys.exit(1)


@backup.command("status")
@tenants_option
@lab_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (monitoring, billing).")
@click.option("--at", "at", metavar="TIME", help="Judge freshness as of this ISO time instead of now.")
def status_command(tenants_file: Path, lab: bool, as_json: bool, at: str | None) -> None:
    """Newest snapshot, its age and bytes stored for every repository.

    Exit status: 0 all fresh, 1 a snapshot older than platform.backup.max_age_hours or missing,
    2 a repository could not be checked."""
    from . import status as st

    plan, store, _ = _context(tenants_file, lab)
    try:
        now = st.parse_time(at) if at else datetime.now(timezone.utc)
    except ValueError:
        raise BackupFailure(f"--at '{at}' is not an ISO time such as 2026-05-01T06:00:00+02:00", 2) from None
    _credentials(plan, store)  # fail early and clearly when the provider credentials are missing
    try:
        statuses = st.collect(plan, store, now=now)
    except Exception as exc:  # noqa: BLE001 — a secret missing for one repository and the like
        raise BackupFailure(str(exc), 2) from None
    if as_json:
        click.echo(json.dumps({"now": now.isoformat(), "max_age_hours": plan.platform.backup.max_age_hours,
                               "exit_code": st.exit_code(statuses), "repositories": st.as_json(statuses, now)}, indent=2))
    else:
        click.echo(st.table(statuses, now))
        code = st.exit_code(statuses)
        summary = {0: "all fresh", 1: "STALE or MISSING backups", 2: "some repositories could not be checked"}[code]
        click.echo(f"\npolicy: newest snapshot at most {plan.platform.backup.max_age_hours} h old — {summary}")
    sys.exit(st.exit_code(statuses))


@backup.command("run")
@click.argument("repositories", nargs=-1, required=True)
@tenants_option
@lab_option
def run_command(repositories: tuple[str, ...], tenants_file: Path, lab: bool) -> None:
    """Run backup jobs now (tenant slugs, or _platform/<host>); waits for each."""
    from .remote import RemoteError
    from .restore import RestoreError, run_backup

    plan, _, remote = _context(tenants_file, lab)
    failed = 0
    for label in repositories:
        try:
            code, status = run_backup(plan, label, remote)
        except (RestoreError, RemoteError) as exc:
            raise BackupFailure(str(exc), 2) from None
        click.echo(f"{label}: {'ok' if code == 0 else f'FAILED (exit {code})'} {status}")
        failed += code != 0
    if failed:
        sys.exit(1)


@backup.command("restore")
@click.argument("tenant")
@click.option("--snapshot", default="latest", show_default=True, help="Snapshot id (see `backup status`), or latest.")
@click.option("--to", "to_host", metavar="HOST", help="Restore onto this host (the tenant must be deployed there).")
@tenants_option
@lab_option
def restore_command(tenant: str, snapshot: str, to_host: str | None, tenants_file: Path, lab: bool) -> None:
    """Restore TENANT's database, media store and signing key; no other tenant is touched.

    TENANT is a slug, or _platform/<host> for a host's Keycloak database."""
    from .remote import RemoteError
    from .restore import RestoreError, restore

    plan, _, remote = _context(tenants_file, lab)
    try:
        result = restore(plan, tenant, remote, snapshot=snapshot, to_host=to_host)
    except (RestoreError, RemoteError) as exc:
        raise BackupFailure(str(exc), 1) from None
    click.echo(f"restored {tenant} from snapshot {result.snapshot} on {result.host}")
