"""Shared by inventories/lab.py and inventories/production.py: plan -> pyinfra hosts with their data.

Each host gets `counselkit` (counselkit.render.host_vars: its tenants, names, ports, paths — plain data, no secret
values) and `counselkit_tenants_file`. Before any host is touched, the secrets file is completed (missing secrets
generated, internal-CA certificates issued or renewed) so every deploy of the run reads the same values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from counselkit import layout, render
from counselkit.plan import Plan, load_plan
from counselkit.site import SiteOverrides

REPO = Path(__file__).resolve().parents[1]
TENANTS_ENV = "COUNSELKIT_TENANTS"


def tenants_file() -> Path:
    return Path(os.environ.get(TENANTS_ENV) or REPO / "tenants.yaml").resolve()


def prepare_secrets(path: Path, plan: Plan) -> None:
    from counselkit.secrets import SecretStore
    from counselkit.tls import ensure_certificates

    store = SecretStore.open(path)
    changed = list(store.ensure(plan))
    changed += ensure_certificates(store, plan)
    if changed:
        store.save()


def pinned_ssh(plan: Plan, path: Path) -> dict[str, Any]:
    """Connector settings of a production host: strict host key checking against the keys pinned in tenants.yaml
    (counselkit.hostkeys); SystemExit with the file and field when a host has none."""
    from counselkit.hostkeys import UnpinnedHostError, write_known_hosts

    try:
        known_hosts = write_known_hosts(plan, path)
    except UnpinnedHostError as error:
        raise SystemExit(str(error)) from None
    return {"ssh_known_hosts_file": str(known_hosts), "ssh_strict_host_key_checking": "yes"}


def pyinfra_hosts(site: SiteOverrides | None, ssh: dict[str, dict[str, Any]] | None = None,
                  pin_host_keys: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """[(plan host name, data)] for every host of the plan; `ssh` adds connector settings per host name;
    `pin_host_keys` (production) connects only to hosts whose keys tenants.yaml pins."""
    path = tenants_file()
    plan = load_plan(path, update_lock=True, site=site)
    pinned = pinned_ssh(plan, path) if pin_host_keys else {}
    prepare_secrets(path, plan)
    hosts = []
    for host_plan in plan.hosts:
        data: dict[str, Any] = {
            "counselkit": render.host_vars(plan, host_plan),
            "counselkit_tenants_file": str(path),
            "counselkit_host": host_plan.name,  # what deploy/keycloak.py and deploy/backup.py look up
            "counselkit_plan": plan,  # the Plan object, for those deploys (not for templates)
            "ssh_hostname": host_plan.address,  # pyinfra names the host as the plan does, connects to its address
            "ssh_user": host_plan.ssh_user,
            "ssh_port": host_plan.ssh_port,
            # an admin deploys through sudo: pyinfra's global argument, as host data the default of every
            # operation and fact (HostPlan.sudo decides it for both engines)
            "_sudo": host_plan.sudo,
        }
        if host_plan.sudo:  # uploads go to a private directory before sudo copies them into place
            data["_temp_dir"] = layout.admin_home(host_plan.ssh_user)
        data.update(pinned)
        data.update((ssh or {}).get(host_plan.name, {}))
        hosts.append((host_plan.name, data))
    return hosts
