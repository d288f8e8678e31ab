"""pyinfra deploy: restic backups of every tenant on this host (and the host's platform job, Keycloak's DB).

Call it last from deploy/site.py, after PostgreSQL, Synapse and Keycloak:

    from deploy import backup
    backup.install(plan=plan, secrets=store)   # or put both into host.data (see _inputs)

Packages, the jobs' group, directories, files (script, template units counselkit-backup@.service/.timer, egress
rules; per job job.conf and restic.env, root-only), the daemon-reload and egress rules of what changed, and one
timer per job come from the component spec (counselkit/components/backup.py), which roles/backup loops over too.
Its templates are rendered with backup's own context (counselkit.backup.render); the restic passwords are written
from the spec's ``layout``. Files go through deploy.managed (content never printed, upload to a temporary name
inside the root-only directory, then renamed), so no credential reaches a log, a command line or a world-readable
place.
"""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy

from counselkit import render
from counselkit.backup.jobs import host_jobs
from counselkit.backup.render import common_context, host_secrets, job_context
from counselkit.components import backup as backup_spec

from .common import in_container, put
from .components import install_accounts, install_directories, install_packages, install_services, run_handlers

PACKAGES = list(backup_spec.PACKAGES)


def _inputs(plan: Any, secrets: Any, host_name: str | None) -> tuple[Any, Any, str]:
    plan = plan or host.data.get("counselkit_plan")
    secrets = secrets or host.data.get("counselkit_secrets")
    host_name = host_name or host.data.get("counselkit_host") or host.name
    if plan is None or secrets is None:
        raise ValueError("deploy.backup.install needs plan= and secrets= (or host.data counselkit_plan / counselkit_secrets)")
    return plan, secrets, host_name


def contexts(plan: Any, host_name: str, credentials: Any) -> dict[str, dict[str, Any]]:
    """File.context -> template context: the host-wide one, and each job's (with the S3 credentials)."""
    found = {backup_spec.COMMON: common_context(plan)}
    found.update({job.name: job_context(plan, job, credentials) for job in host_jobs(plan, host_name)})
    return found


@deploy("counselkit backup")
def install(plan: Any = None, secrets: Any = None, host_name: str | None = None) -> None:
    plan, secrets, host_name = _inputs(plan, secrets, host_name)
    component = backup_spec.backup(render.host_vars(plan, host_name))
    container = in_container()
    credentials, passwords = host_secrets(plan, host_name, secrets)
    context = contexts(plan, host_name, credentials)

    install_packages(component)
    install_accounts(component)  # the jobs' group exists before the egress rules naming it are loaded
    install_directories(component)
    changed: dict[str, list] = {}
    for f in component.files:
        # restic.env holds the S3 credentials: uploaded next to its destination, never printed
        op = put(f"Backup: {f.dest}" + (" (secret)" if f.sensitive else ""), f.dest,
                 render.render(f.template, context[f.context]), user=f.owner, group=f.group, mode=f.mode)
        if f.handler:
            changed.setdefault(f.handler, []).append(op)
    for entry in component.layout["passwords"]:
        put(f"Backup {entry['label']}: {entry['dest']} (secret)", entry["dest"], passwords[entry["ref"]] + "\n",
            mode=entry["mode"])
    run_handlers(component, changed, container)  # daemon-reload, egress rules loaded
    install_services(component, container)  # one timer per job
