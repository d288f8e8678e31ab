"""Base hardening of a Debian 12 host: admins, login defaults, sshd, sysctl, nftables, fail2ban, auditd, journald, updates.

Packages, directories, files, handlers and services come from the component spec (counselkit/components/base.py),
which roles/hardening loops over too; this module turns each entry into a pyinfra operation.
"""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import deploy, operation
from pyinfra.facts.server import Command
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from counselkit import layout, sshauth
from counselkit.components import HOST_KERNEL, Component
from counselkit.components import base as base_spec

from . import commands
from .common import context, directory, host_vars, in_container, put, put_template, virtualization
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


def needs_met(need: str | None, container: bool) -> bool:
    """A spec entry's runtime requirement (counselkit.components) on this host. NET_ADMIN is not probed: where it
    is missing the nft check fails and the deploy stops (docs/contributing-roles.md, known differences)."""
    return not (need == HOST_KERNEL and container)


def install_packages(component: Component) -> None:
    if component.packages:
        apt.packages(name=f"{component.name}: packages", packages=list(component.packages), no_recommends=True)


def install_directories(component: Component) -> None:
    for d in component.directories:
        directory(name=d.path, path=d.path, user=d.owner, group=d.group, mode=d.mode)


def install_files(component: Component, container: bool) -> None:
    """Files (each checked by its validate command once written), absent files, line edits, then the handlers
    of the files that changed, then the services: the order of roles/hardening."""
    changed: dict[str, list] = {}
    for f in component.files:
        op = put_template(f.template, f.dest, user=f.owner, group=f.group, mode=f.mode)
        if f.validate and needs_met(f.validate_needs, container):
            server.shell(name=f"Check {f.dest}", commands=[f.validate.replace("%s", shlex.quote(f.dest))],
                         _if=op.did_change)
        if f.handler:
            changed.setdefault(f.handler, []).append(op)
    for path in component.absent:
        files.file(name=f"Absent: {path}", path=path, present=False)
    for edit in component.lines:
        # pyinfra matches with grep/sed basic regular expressions (counselkit.components.Line)
        files.line(name=f"{edit.path}: {edit.line}", path=edit.path, line=edit.regexp, replace=edit.line)
    for handler in component.handlers:
        ops = changed.get(handler.name)
        if not ops or not needs_met(handler.needs, container):
            continue
        if handler.daemon_reload:
            systemd.daemon_reload(name=handler.name, _if=any_changed(*ops))
        elif handler.unit:
            # a stopped unit is started instead (as Ansible's systemd_service does for reloaded/restarted)
            systemd.service(name=handler.name, service=handler.unit, _if=any_changed(*ops), running=True,
                            reloaded=handler.action == "reloaded", restarted=handler.action == "restarted")
        else:
            server.shell(name=handler.name, commands=[shlex.join(handler.argv)], _if=any_changed(*ops))
    install_services(component, container)


def install_services(component: Component, container: bool) -> None:
    for s in component.services:
        if needs_met(s.running_needs, container):
            systemd.service(name=f"{s.unit} (running: {s.running}, enabled: {s.enabled})", service=s.unit,
                            running=s.running, enabled=s.enabled)
        elif s.off_without:
            systemd.service(name=f"{s.unit} off (needs {s.running_needs})", service=s.unit, running=False,
                            enabled=False)
        else:
            systemd.service(name=f"{s.unit} enabled, not started (needs {s.running_needs})", service=s.unit,
                            running=None, enabled=s.enabled)
    if component.unwanted_services:
        status = host.get_fact(SystemdStatus) or {}
        for unit in component.unwanted_services:
            if unit in status:
                systemd.service(name=f"{unit} stopped and disabled", service=unit, running=False, enabled=False)


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
