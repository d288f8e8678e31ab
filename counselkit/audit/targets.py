"""Inventories → audit targets: the plan's hosts plus how to reach each one.

* ``lab``: addresses, key and known_hosts from the running lab (``counselkit.lab.state.load_state()``),
  strict host key checking, the lab key only (an ssh_config written for this run).
* ``production``: the plan's addresses, ports and users (through sudo when that is an admin); the operator's own SSH agent and ~/.ssh/config,
  with BatchMode and strict host key checking.
* ``local``: this machine through testinfra's local backend, checked against one host of the plan.
* a path: a pyinfra inventory file (lists of hosts, optionally ``(name, data)`` with ``ssh_hostname``,
  ``ssh_port``, ``ssh_user``, ``ssh_key``, ``ssh_known_hosts_file``), matched to plan hosts by name. It is run as
  pyinfra would run it from its project's root (whatever the current directory), with $COUNSELKIT_TENANTS set to
  the audited tenants file.

The audit only reads: the plan comes from counselkit.prepare.prepared_plan (no lock update), and a tenants file
whose lock does not pin every tenant is refused with the hint to run `counselkit prepare`.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from counselkit.layout import ROOT_USER
from counselkit.options import TENANTS_ENV
from counselkit.plan import HostPlan, Plan
from counselkit.site import SiteOverrides, lab_site

from .context import Target

STRICT_SSH = "-o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10"


class TargetError(Exception):
    pass


def _plan(tenants_file: Path, site: SiteOverrides | None = None) -> Plan:
    """The audited plan, read only: the lock must pin every tenant (the hosts were deployed from a prepared file)."""
    from counselkit.prepare import PlanUnavailable, prepared_plan

    try:
        return prepared_plan(tenants_file, site, secrets=False)
    except PlanUnavailable as exc:
        raise TargetError(str(exc)) from None


def _pick(plan: Plan, host_filter: str | None) -> list[HostPlan]:
    hosts = plan.hosts
    if host_filter:
        hosts = [h for h in hosts if h.name == host_filter]
        if not hosts:
            raise TargetError(f"no host {host_filter!r} in the plan (hosts: {', '.join(h.name for h in plan.hosts)})")
    return hosts


def lab_targets(tenants_file: Path, workdir: Path, host_filter: str | None = None) -> tuple[Plan, list[Target]]:
    from counselkit.lab.state import load_state

    state = load_state()
    if state is None or state.phase != "up":
        raise TargetError("the lab is not up (counselkit lab up)")
    plan = _plan(tenants_file, lab_site(state))
    lab_names = {h.name for h in state.hosts}
    targets = []
    for plan_host in _pick(plan, host_filter):
        if plan_host.name not in lab_names:
            raise TargetError(f"plan host {plan_host.name} is not a lab host (lab: {', '.join(sorted(lab_names))})")
        lab_host = state.host(plan_host.name)
        config = workdir / f"ssh_config.{lab_host.name}"
        config.write_text(
            f"Host {lab_host.address}\n"
            f"  User {plan_host.ssh_user}\n  Port {lab_host.ssh_port}\n  IdentityFile {lab_host.ssh_key_path}\n"
            f"  IdentitiesOnly yes\n  UserKnownHostsFile {lab_host.known_hosts_path}\n"
            f"  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
            f"  ConnectTimeout 5\n  LogLevel ERROR\n", encoding="utf-8")
        # as the deploy logs in (inventories/lab.py): the plan's user with the lab key
        targets.append(Target(plan_host.name, f"ssh://{plan_host.ssh_user}@{lab_host.address}:{lab_host.ssh_port}",
                              lab_host.address, plan_host, ssh_config=config, sudo=plan_host.sudo))
    return plan, targets


def production_targets(tenants_file: Path, host_filter: str | None = None) -> tuple[Plan, list[Target]]:
    plan = _plan(tenants_file)
    targets = [Target(h.name, f"ssh://{h.ssh_user}@{h.address}:{h.ssh_port}", h.address, h, ssh_extra_args=STRICT_SSH,
                      sudo=h.sudo)
               for h in _pick(plan, host_filter)]
    return plan, targets


def local_target(tenants_file: Path, host_filter: str | None = None, address: str = "127.0.0.1") -> tuple[Plan, list[Target]]:
    plan = _plan(tenants_file)
    plan_host = _pick(plan, host_filter)[0]
    return plan, [Target(plan_host.name, "local://", address, plan_host)]


def file_targets(inventory: Path, tenants_file: Path, host_filter: str | None = None) -> tuple[Plan, list[Target]]:
    plan = _plan(tenants_file)
    namespace = run_inventory(inventory, tenants_file)
    entries: dict[str, dict[str, Any]] = {}
    for name, value in namespace.items():
        if name.startswith("_") or not isinstance(value, (list, tuple)):
            continue
        for item in value:
            if isinstance(item, str):
                entries.setdefault(item, {})
            elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict):
                entries.setdefault(item[0], dict(item[1]))
    targets = []
    for plan_host in _pick(plan, host_filter):
        data = entries.get(plan_host.name) or next((d for n, d in entries.items() if n == plan_host.address), None)
        if data is None:
            raise TargetError(f"{inventory} has no host {plan_host.name}")
        address = data.get("ssh_hostname", plan_host.address)
        user = data.get("ssh_user", plan_host.ssh_user)
        port = data.get("ssh_port", plan_host.ssh_port)
        extra = STRICT_SSH
        if data.get("ssh_known_hosts_file"):
            extra += f" -o UserKnownHostsFile={data['ssh_known_hosts_file']}"
        targets.append(Target(plan_host.name, f"ssh://{user}@{address}:{port}", address, plan_host,
                              ssh_identity_file=Path(data["ssh_key"]) if data.get("ssh_key") else None,
                              ssh_extra_args=extra, sudo=user != ROOT_USER))
    return plan, targets


def project_root(inventory: Path) -> Path:
    """The directory pyinfra would run `inventory` from: the nearest ancestor holding pyproject.toml or .git (for
    this repository's inventories/*.py, the repository root), else the inventory's own directory."""
    for directory in inventory.parents:
        if (directory / "pyproject.toml").is_file() or (directory / ".git").exists():
            return directory
    return inventory.parent


@contextlib.contextmanager
def _inventory_context(root: Path, tenants_file: Path) -> Iterator[None]:
    """sys.path and $COUNSELKIT_TENANTS as for `pyinfra INVENTORY` run in `root`, restored afterwards."""
    saved_path, saved_env = list(sys.path), os.environ.get(TENANTS_ENV)
    sys.path.insert(0, str(root))
    os.environ[TENANTS_ENV] = str(tenants_file.resolve())
    try:
        yield
    finally:
        sys.path[:] = saved_path
        if saved_env is None:
            os.environ.pop(TENANTS_ENV, None)
        else:
            os.environ[TENANTS_ENV] = saved_env


def run_inventory(inventory: Path, tenants_file: Path) -> dict[str, Any]:
    """The names a pyinfra inventory file defines; TargetError (one line) when it stops or fails to import."""
    inventory = inventory.resolve()
    with _inventory_context(project_root(inventory), tenants_file):
        try:
            return runpy.run_path(str(inventory))
        except SystemExit as exc:  # the inventories' own refusal (not prepared, host key not pinned, lab down)
            raise TargetError(f"{inventory}: {exc.code}") from None
        except ImportError as exc:
            raise TargetError(f"{inventory}: cannot load it ({exc})") from None
