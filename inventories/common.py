"""Shared by inventories/lab.py and inventories/production.py: plan -> pyinfra hosts with their data.

Each host gets `counselkit` (counselkit.render.host_vars: its tenants, names, ports, paths — plain data, no secret
values) and `counselkit_tenants_file`. The inventory only reads: the lock, the secrets file (with the internal-CA
certificates) and, for production, the pinned known_hosts must be complete and current — written by
`counselkit prepare` (counselkit/prepare.py) — else it stops with one line saying what is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from counselkit import layout, render
from counselkit.options import TENANTS_ENV, tenants_path
from counselkit.plan import Plan
from counselkit.site import SiteOverrides

REPO = Path(__file__).resolve().parents[1]
__all__ = ["TENANTS_ENV", "pyinfra_hosts", "tenants_file"]


def tenants_file() -> Path:
    return tenants_path(default=REPO / "tenants.yaml").resolve()


def checked_plan(path: Path, site: SiteOverrides | None, pin_host_keys: bool) -> Plan:
    """The plan, read only; SystemExit with the message (no traceback) when tenants.yaml has problems or a file that
    `counselkit prepare` writes is not current."""
    from counselkit.prepare import PlanUnavailable, prepared_plan

    try:
        return prepared_plan(path, site, known_hosts=pin_host_keys)
    except PlanUnavailable as error:
        raise SystemExit(str(error)) from None


def pinned_ssh(path: Path) -> dict[str, Any]:
    """Connector settings of a production host: strict host key checking against the keys pinned in tenants.yaml
    (counselkit.hostkeys; the file is checked current by checked_plan)."""
    from counselkit.hostkeys import known_hosts_path

    return {"ssh_known_hosts_file": str(known_hosts_path(path)), "ssh_strict_host_key_checking": "yes"}


def pyinfra_hosts(site: SiteOverrides | None, ssh: dict[str, dict[str, Any]] | None = None,
                  pin_host_keys: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """[(plan host name, data)] for every host of the plan; `ssh` adds connector settings per host name;
    `pin_host_keys` (production) connects only to hosts whose keys tenants.yaml pins."""
    path = tenants_file()
    plan = checked_plan(path, site, pin_host_keys)
    pinned = pinned_ssh(path) if pin_host_keys else {}
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
