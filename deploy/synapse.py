"""Synapse: one pinned release in one venv, one sandboxed systemd instance per tenant (matrix-synapse@<slug>)."""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from counselkit import layout, render

from . import commands, managed
from .common import context, directory, owner_and_mode, put, put_template
from .guard import DeployError

REPO = Path(__file__).resolve().parents[1]


def requirements(version: str) -> str:
    """The hashed requirements file of `version` (scripts/synapse_requirements.py); a clear error when missing."""
    path = REPO / layout.synapse_requirements_file(version)
    if not path.is_file():
        raise DeployError(f"no hashed requirements for matrix-synapse {version}: {path} is missing; generate it with "
                          f"`python scripts/synapse_requirements.py {version}` and commit it (docs/operations.md)")
    return path.read_text()


@operation()
def synapse_venv(venv: str, requirements_path: str, requirements_sha256: str):
    """Create the venv and install exactly the hashed requirements, unless this very file was installed last.

    The stamp (layout.SYNAPSE_REQUIREMENTS_STAMP) is written only after pip succeeded, so a failed install is
    retried on the next deploy."""
    stamp = layout.SYNAPSE_REQUIREMENTS_STAMP
    installed = (host.get_fact(Command, f"cat {shlex.quote(stamp)} 2>/dev/null || true") or "").strip()
    if installed == requirements_sha256:
        host.noop(f"{venv} has exactly {requirements_path} (sha256 {requirements_sha256[:12]})")
        return
    if not host.get_fact(File, path=f"{venv}/bin/python"):
        yield commands.create_venv(venv)
    yield commands.pip_install_hashed(venv, requirements_path)
    yield f"echo {shlex.quote(requirements_sha256)} > {shlex.quote(stamp)}"


@operation()
def signing_key(venv: str, key_path: str, user: str):
    """Generate the tenant's signing key once, as the tenant's user; it is never replaced (remote servers and
    clients pin it)."""
    if managed.state(key_path):
        host.noop(f"signing key {key_path} exists")
        return
    managed.forget(key_path)  # it is written now: later readers must not trust the bulk read
    yield commands.generate_signing_key(venv, key_path, user)


def install_module() -> list[Any]:
    """The counselling module's files (layout.synapse_module_files, as roles/synapse), readable by every tenant's
    Synapse; the operations, so that a change restarts the tenants' instances."""
    for path in (layout.SYNAPSE_MODULE_ROOT, layout.SYNAPSE_MODULE_DIR):
        directory(name=f"counselling module dir {path}", path=path)
    return [put(f"counselling module: {dest}", dest, (REPO / source).read_text(encoding="utf-8"))
            for source, dest in layout.synapse_module_files().items()]


def bytecode(*changes: Any) -> None:
    """Synapse's bytecode, compiled with the unit's interpreter flags into layout.SYNAPSE_PYCACHE (docs/memory.md),
    whenever what it is compiled from or with changed (as roles/synapse); before the instances (re)start below."""
    cache = directory(name="Synapse bytecode cache dir", path=layout.SYNAPSE_PYCACHE)
    server.shell(name="Synapse bytecode (interpreter flags of the unit)",
                 commands=[commands.argv(*layout.SYNAPSE_BYTECODE_COMPILE)], _if=any_changed(cache, *changes))


@deploy("counselkit: Synapse")
def synapse() -> None:
    ctx = context()
    venv = layout.SYNAPSE_VENV
    version = ctx["platform"]["synapse_version"]
    wanted = requirements(version)
    directory(name="Synapse install dir", path=posixpath.dirname(layout.SYNAPSE_REQUIREMENTS_HOST))
    put(f"matrix-synapse {version}: hashed requirements", layout.SYNAPSE_REQUIREMENTS_HOST, wanted)
    installed = synapse_venv(name=f"matrix-synapse {version} in {venv} (hashed requirements)", venv=venv,
                             requirements_path=layout.SYNAPSE_REQUIREMENTS_HOST,
                             requirements_sha256=hashlib.sha256(wanted.encode()).hexdigest())
    module_files = install_module()
    unit = put_template("synapse/matrix-synapse@.service.j2", layout.SYNAPSE_UNIT_PATH)
    systemd.daemon_reload(name="systemd daemon-reload (unit template changed)", _if=unit.did_change)
    bytecode(installed, unit, *module_files)

    # Which instances run now (before this deploy): only those may need a restart; new ones just start.
    running_before = host.get_fact(SystemdStatus, services=[t["unit"] for t in ctx["tenants"]]) or {}

    # nftables.conf includes its *.nft (an absent directory matches nothing); only this deploy writes there.
    directory(name="nftables egress rules dir", path=layout.NFTABLES_EGRESS_DIR)
    egress = []
    for tenant in ctx["tenants"]:
        slug, user = tenant["slug"], tenant["unix_user"]
        server.group(name=f"[{slug}] group {user}", group=user, system=True)
        server.user(name=f"[{slug}] user {user}", user=user, group=user, system=True, home=tenant["data_dir"],
                    shell="/usr/sbin/nologin", create_home=False, ensure_home=False)
        directory(name=f"[{slug}] config dir", path=tenant["config_dir"], user="root", group=user, mode="750")
        directory(name=f"[{slug}] data dir", path=tenant["data_dir"], user=user, group=user, mode="700")
        directory(name=f"[{slug}] media dir", path=tenant["media_dir"], user=user, group=user, mode="700")
        tenant_files = render.render_tenant_files(ctx, slug)
        homeserver = put(f"[{slug}] homeserver.yaml", tenant["homeserver_yaml"], tenant_files[tenant["homeserver_yaml"]],
                         group=user, mode="640")
        log_config = put(f"[{slug}] log config", tenant["log_config"], tenant_files[tenant["log_config"]],
                         group=user, mode="640")
        managed.register(tenant["signing_key_path"])
        signing_key(name=f"[{slug}] signing key (generated as {user})", venv=venv, key_path=tenant["signing_key_path"],
                    user=user)
        owner_and_mode(name=f"[{slug}] signing key owner", path=tenant["signing_key_path"], user=user, group=user,
                       mode="600")
        # Its drop-in (limits, address filter) and egress rules: after the user exists (nft resolves its name).
        directory(name=f"[{slug}] unit drop-in dir", path=tenant["unit_dropin"].rsplit("/", 1)[0])
        dropin = put(f"[{slug}] unit drop-in", tenant["unit_dropin"], tenant_files[tenant["unit_dropin"]])
        systemd.daemon_reload(name=f"[{slug}] systemd daemon-reload (drop-in changed)", _if=dropin.did_change)
        egress.append(put(f"[{slug}] egress rules", tenant["egress_rules"], tenant_files[tenant["egress_rules"]],
                          mode=layout.NFTABLES_EGRESS_MODE))
        systemd.service(name=f"[{slug}] {tenant['unit']} running", service=tenant["unit"], running=True, enabled=True)
        was_running = bool(running_before.get(tenant["unit"]))
        systemd.service(name=f"[{slug}] restart {tenant['unit']} (its config, limits, the release or the module changed)",
                        service=tenant["unit"], restarted=True,
                        _if=[any_changed(homeserver, log_config, installed, unit, dropin, *module_files),
                             lambda was=was_running: was])
    server.shell(name="nftables: egress rules loaded", commands=[layout.NFTABLES_RELOAD], _if=any_changed(*egress))
