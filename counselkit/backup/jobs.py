"""Backup jobs derived from the plan: what each restic repository holds and where it lives.

One job per tenant (repository `<bucket>/<slug>`: the tenant's database dump, media store and signing key)
and one platform job per host (repository `<bucket>/_platform/<host>`: Keycloak's database dump).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import layout
from ..model.platform import Backup, Retention
from ..plan import Plan, TenantPlan


@dataclass(frozen=True)
class BackupJob:
    name: str  # tenant slug or layout.BACKUP_PLATFORM_JOB
    kind: str  # "tenant" | "platform"
    host: str
    prefix: str  # key prefix in the bucket
    repository: str  # restic repository URL
    password_ref: str  # reference in the secrets store
    databases: tuple[str, ...]
    paths: tuple[str, ...]  # files and directories backed up besides the dumps
    unix_user: str | None = None  # owner of restored files (tenants)
    unit: str | None = None  # stopped while restoring (tenants)
    names: dict[str, str] = field(default_factory=dict)  # layout.backup_job_names(name)

    @property
    def label(self) -> str:
        """How reports name the job: the tenant slug, or _platform/<host>."""
        return self.name if self.kind == "tenant" else self.prefix


def repository_url(backup: Backup, prefix: str) -> str:
    endpoint = str(backup.s3_endpoint).rstrip("/")
    return f"s3:{endpoint}/{backup.bucket}/{prefix}"


def platform_password_ref(host: str) -> str:
    # One generated password for the platform repositories of all hosts (`counselkit secrets ensure`).
    return layout.platform_secret_ref("restic_password_platform")


def tenant_job(tenant: TenantPlan) -> BackupJob:
    return BackupJob(
        name=tenant.slug,
        kind="tenant",
        host=tenant.host,
        prefix=tenant.slug,
        repository=tenant.backup_repository,
        password_ref=tenant.secrets["restic_password"],
        databases=(tenant.db_name,),
        paths=(tenant.media_dir, tenant.signing_key_path),
        unix_user=tenant.unix_user,
        unit=tenant.unit,
        names=layout.backup_job_names(tenant.slug),
    )


def platform_job(plan: Plan, host: str) -> BackupJob:
    prefix = layout.platform_backup_prefix(host)
    return BackupJob(
        name=layout.BACKUP_PLATFORM_JOB,
        kind="platform",
        host=host,
        prefix=prefix,
        repository=repository_url(plan.platform.backup, prefix),
        password_ref=platform_password_ref(host),
        databases=(layout.KEYCLOAK_DB,),
        paths=(),
        names=layout.backup_job_names(layout.BACKUP_PLATFORM_JOB),
    )


def host_jobs(plan: Plan, host: str) -> list[BackupJob]:
    """Every tenant's job, plus the platform job where there is a platform database to keep (Keycloak's)."""
    platform = [platform_job(plan, host)] if plan.platform.artifacts.keycloak is not None else []
    return [tenant_job(t) for t in plan.host(host).tenants] + platform


def all_jobs(plan: Plan) -> list[BackupJob]:
    return [job for h in plan.hosts for job in host_jobs(plan, h.name)]


def find_job(plan: Plan, label: str) -> BackupJob:
    for job in all_jobs(plan):
        if job.label == label:
            return job
    known = ", ".join(j.label for j in all_jobs(plan))
    raise LookupError(f"no tenant or platform repository '{label}' in the plan (known: {known})")


def retention_flags(retention: Retention) -> list[str]:
    """restic forget flags for the platform's retention; a zero count keeps none of that kind."""
    flags = [f"--keep-daily={retention.daily}"]
    if retention.weekly:
        flags.append(f"--keep-weekly={retention.weekly}")
    if retention.monthly:
        flags.append(f"--keep-monthly={retention.monthly}")
    return flags
