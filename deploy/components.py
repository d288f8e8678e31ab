"""pyinfra operations from a component spec (counselkit/components): what every deploy/<component>.py loops over.

Order, as the Ansible roles have it: packages, groups and users, directories, copies, files (each checked by its
validate command once written), absent files, line edits, the handlers of the files that changed (a handler's
check first; a handler also runs for the topics it listens to), services. A deploy that writes files the spec only
names (certificates cut from secrets) or runs code that triggers a handler (Synapse's venv) passes those
operations to ``run_handlers`` under the handler or topic they trigger.
"""

from __future__ import annotations

import shlex
from typing import Any

from pyinfra import host
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from counselkit import render
from counselkit.components import HOST_KERNEL, Component

from .common import REPO, context, directory, put, put_template

Changed = dict[str, list[Any]]  # handler name -> operations that trigger it


def needs_met(need: str | None, container: bool) -> bool:
    """A spec entry's runtime requirement (counselkit.components) on this host. NET_ADMIN is not probed: where it
    is missing the nft check fails and the deploy stops (docs/contributing-roles.md, known differences)."""
    return not (need == HOST_KERNEL and container)


def install_packages(component: Component) -> None:
    if component.packages:
        apt.packages(name=f"{component.name}: packages", packages=list(component.packages), no_recommends=True)


def install_accounts(component: Component) -> None:
    """System groups, then system users (no login; the home is a spec directory, not created here)."""
    for group in component.groups:
        server.group(name=f"{component.name}: group {group}", group=group, system=True)
    for user in component.users:
        server.user(name=f"{component.name}: user {user.name}", user=user.name, group=user.group, system=True,
                    home=user.home, shell=user.shell, create_home=False, ensure_home=False)


def install_copies(component: Component, changed: Changed | None = None) -> Changed:
    """Repository files copied as they are; returns (adds to) the operations that trigger each handler."""
    changed = {} if changed is None else changed
    for c in component.copies:
        op = put(f"Copy {c.dest}", c.dest, (REPO / c.source).read_text(encoding="utf-8"), user=c.owner,
                 group=c.group, mode=c.mode)
        if c.handler:
            changed.setdefault(c.handler, []).append(op)
    return changed


def install_directories(component: Component) -> None:
    for d in component.directories:
        directory(name=d.path, path=d.path, user=d.owner, group=d.group, mode=d.mode)


def put_files(component: Component, container: bool, changed: Changed | None = None) -> Changed:
    """Files, absent files and line edits; returns (adds to) the operations that trigger each handler."""
    changed = {} if changed is None else changed
    for f in component.files:
        ctx = render.tenant_context(context(), f.tenant) if f.tenant else None
        op = put_template(f.template, f.dest, ctx=ctx, user=f.owner, group=f.group, mode=f.mode)
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
    return changed


def run_handlers(component: Component, changed: Changed, container: bool) -> None:
    """Each handler once, in spec order, if one of its operations (or of a topic it listens to) changed something."""
    for handler in component.handlers:
        ops = [op for name in (handler.name, *handler.listen) for op in changed.get(name, [])]
        if not ops or not needs_met(handler.needs, container):
            continue
        if handler.check:
            server.shell(name=f"{handler.name}: check ({shlex.join(handler.check)})",
                         commands=[shlex.join(handler.check)], _if=any_changed(*ops))
        if handler.daemon_reload:
            systemd.daemon_reload(name=handler.name, _if=any_changed(*ops))
        elif handler.unit:
            # a stopped unit is started instead (as Ansible's systemd_service does for reloaded/restarted)
            systemd.service(name=handler.name, service=handler.unit, _if=any_changed(*ops), running=True,
                            reloaded=handler.action == "reloaded", restarted=handler.action == "restarted")
        else:
            server.shell(name=handler.name, commands=[shlex.join(handler.argv)], _if=any_changed(*ops))


def install_files(component: Component, container: bool) -> None:
    """Files, absent files, line edits, then the handlers of the files that changed, then the services."""
    run_handlers(component, put_files(component, container), container)
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
