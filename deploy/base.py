"""Base hardening of a Debian 12 host: admins, login defaults, sshd, sysctl, nftables, fail2ban, auditd, journald, updates.

Packages, directories, files, handlers and services come from the component spec (counselkit/components/base.py),
which roles/hardening loops over too; deploy/components.py turns each entry into a pyinfra operation.
"""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import deploy, operation
from pyinfra.facts.server import Command
from pyinfra.operations import apt, server

from counselkit import layout, sshauth
from counselkit.components import base as base_spec

from . import commands
from .common import context, directory, host_vars, in_container, put, virtualization
from .components import install_directories, install_files, install_packages
from .guard import DeployError


@operation()
def security_updates():
    """Install the upgrades that come from the Debian security archive (a fresh image lags behind it)."""
    pending = host.get_fact(Command, layout.PENDING_SECURITY_UPDATES) or ""
    packages = sorted(set(pending.split()))
    if not packages:
        host.noop("no security updates pending")
        return
    yield commands.only_upgrade(packages)


@operation()
def file_integrity_baseline():
    """Start building the first AIDE database in the background, unless it exists or is being built (running or
    queued). A failed earlier build is started again, and its result shows in the deploy's output."""
    unit = shlex.quote(layout.AIDE_INIT_UNIT)
    output = host.get_fact(Command, f"test -e {shlex.quote(layout.AIDE_DB)} && echo present || "
                                    f"systemctl show -p ActiveState -p Result -p Job {unit}") or ""
    state = dict(line.split("=", 1) for line in output.split() if "=" in line)
    if output.strip() == "present":
        host.noop(f"AIDE database {layout.AIDE_DB}: present")
        return
    if state.get("ActiveState") in ("active", "activating") or state.get("Job", "") not in ("", "0"):
        host.noop(f"AIDE database {layout.AIDE_DB}: being built ({state.get('ActiveState')})")
        return
    if state.get("Result", "success") != "success":
        logger.warning(f"{host.name}: the last AIDE baseline build ended with {state['Result']!r} "
                       f"(journalctl -u {layout.AIDE_INIT_UNIT}); starting it again")
    yield f"systemctl start --no-block {unit}"


@operation()
def remove_former_admins(planned: list[str]):
    """Delete every member of layout.ADMIN_GROUP that platform.admins no longer lists: account, home (keys),
    sessions; sudo went with the group membership. The group marks the accounts the deploy manages."""
    line = host.get_fact(Command, f"getent group {shlex.quote(layout.ADMIN_GROUP)} || true") or ""
    members = [m for m in line.strip().split(":", 3)[-1].split(",") if m] if line.count(":") == 3 else []
    former = sorted(set(members) - set(planned) - {"root"})
    if not former:
        host.noop(f"{layout.ADMIN_GROUP} holds only planned admins")
        return
    for user in former:
        yield commands.remove_admin(user)


@deploy("counselkit: file integrity baseline")
def file_integrity() -> None:
    file_integrity_baseline(name="First AIDE database (background, idle priority)")


@deploy("counselkit: apt and proxy")
def apt_setup() -> None:
    component = base_spec.apt_setup(host_vars())
    install_files(component, in_container())
    apt.update(name=f"apt update (at most every {component.layout['apt_cache_valid_time']} s)",
               cache_time=component.layout["apt_cache_valid_time"])


@deploy("counselkit: base hardening")
def base() -> None:
    ctx = context()
    component = base_spec.hardening(host_vars())
    container = in_container()
    if container:
        logger.warning(f"{host.name}: runs in a container ({virtualization()}): kernel-wide sysctls, auditd and "
                       "time sync are configured but not activated (the container's host kernel owns them)")

    install_packages(component)

    # --- admins: from platform.admins, keys only, sudo via the admin group
    for group in component.groups:
        server.group(name=f"Group {group}", group=group)
    for admin in ctx["platform"]["admins"]:
        server.user(name=f"Admin {admin['name']}", user=admin["name"], shell="/bin/bash", create_home=True,
                    home=layout.admin_home(admin["name"]),
                    groups=[layout.ADMIN_GROUP], public_keys=[admin["ssh_key"]], delete_keys=True)
        # login.defs' HOME_MODE comes later in this deploy (and only applies to new accounts): set the mode here,
        # as deploys through sudo stage their uploads in this directory.
        directory(name=f"Admin {admin['name']}: home private", path=layout.admin_home(admin["name"]),
                  user=admin["name"], group=admin["name"], mode="750")
    remove_former_admins(name=f"Former admins removed (members of {layout.ADMIN_GROUP} not in platform.admins)",
                         planned=[a["name"] for a in ctx["platform"]["admins"]])
    # root: exactly the admins' keys (plus the site's own), never a key left from an earlier admin or an image;
    # refused first if the keys written for the deploy user (root or an admin) would lock out this very deploy.
    # Without sudo: sudo resets the environment, and $SSH_USER_AUTH is the login session's (readable by its user).
    root_keys = ctx["platform"]["root_keys"]
    auth_info = host.get_fact(Command, 'cat "$SSH_USER_AUTH" 2>/dev/null || true', _sudo=False) or ""
    problem = sshauth.lockout_problem(ctx["platform"], auth_info, host.data.get("ssh_user") or sshauth.ROOT, host.name)
    if problem:
        raise DeployError(problem)  # while collecting operations: nothing has run on any host yet

    install_directories(component)  # root's .ssh among them
    put(f"root's keys ({layout.ROOT_AUTHORIZED_KEYS})", layout.ROOT_AUTHORIZED_KEYS,
        "".join(f"{key}\n" for key in root_keys), mode="600")

    # --- sudoers, login defaults, sshd, sysctl, nftables, fail2ban, auditd, journald, AIDE unit, report mail,
    # unattended upgrades; then the handlers of what changed, then the services (counselkit/components/base.py)
    install_files(component, container)

    # --- security updates: whatever is pending now (unattended-upgrades takes over daily)
    security_updates(name="Pending security updates installed")
