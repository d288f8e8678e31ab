"""Synapse: one pinned release in one venv, one sandboxed systemd instance per tenant (matrix-synapse@<slug>)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from counselkit import layout, render

from . import managed
from .common import context, directory, owner_and_mode, put, put_template


def _wanted(version: str) -> str:
    return " ".join([version, *(spec.split("==")[1] for spec in layout.SYNAPSE_PIP_EXTRA_PACKAGES)])


@operation()
def synapse_venv(venv: str, version: str):
    """Create the venv and install matrix-synapse==version (+ pinned extras) unless exactly that is installed."""
    probe = (f"{venv}/bin/python -c 'import synapse, psycopg2; "
             f"print(synapse.__version__, psycopg2.__version__.split()[0])' 2>/dev/null || true")
    installed = (host.get_fact(Command, probe) or "").strip()
    if installed == _wanted(version):
        host.noop(f"matrix-synapse {version} is installed in {venv}")
        return
    if not host.get_fact(File, path=f"{venv}/bin/python"):
        yield f"python3 -m venv {venv}"
    packages = " ".join([f"matrix-synapse=={version}", *layout.SYNAPSE_PIP_EXTRA_PACKAGES])
    yield f"{venv}/bin/pip install --no-cache-dir --quiet {packages}"


@operation()
def signing_key(venv: str, homeserver_yaml: str, key_path: str):
    """Generate the tenant's signing key once; it is never replaced (remote servers and clients pin it)."""
    if managed.state(key_path):
        host.noop(f"signing key {key_path} exists")
        return
    managed.forget(key_path)  # it is written now: later readers must not trust the bulk read
    yield f"{venv}/bin/python -m synapse.app.homeserver --config-path={homeserver_yaml} --generate-keys"


@deploy("counselkit: Synapse")
def synapse() -> None:
    ctx = context()
    venv = layout.SYNAPSE_VENV
    version = ctx["platform"]["synapse_version"]
    installed = synapse_venv(name=f"matrix-synapse {version} in {venv}", venv=venv, version=version)
    unit = put_template("synapse/matrix-synapse@.service.j2", layout.SYNAPSE_UNIT_PATH)
    systemd.daemon_reload(name="systemd daemon-reload (unit template changed)", _if=unit.did_change)

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
        signing_key(name=f"[{slug}] signing key", venv=venv, homeserver_yaml=tenant["homeserver_yaml"],
                    key_path=tenant["signing_key_path"])
        owner_and_mode(name=f"[{slug}] signing key owner", path=tenant["signing_key_path"], user=user, group=user,
                       mode="600")
        # Its drop-in (limits, address filter) and egress rules: after the user exists (nft resolves its name).
        directory(name=f"[{slug}] unit drop-in dir", path=tenant["unit_dropin"].rsplit("/", 1)[0])
        dropin = put(f"[{slug}] unit drop-in", tenant["unit_dropin"], tenant_files[tenant["unit_dropin"]])
        systemd.daemon_reload(name=f"[{slug}] systemd daemon-reload (drop-in changed)", _if=dropin.did_change)
        egress.append(put(f"[{slug}] egress rules", tenant["egress_rules"], tenant_files[tenant["egress_rules"]]))
        systemd.service(name=f"[{slug}] {tenant['unit']} running", service=tenant["unit"], running=True, enabled=True)
        was_running = bool(running_before.get(tenant["unit"]))
        systemd.service(name=f"[{slug}] restart {tenant['unit']} (its config, limits or the release changed)",
                        service=tenant["unit"], restarted=True,
                        _if=[any_changed(homeserver, log_config, installed, unit, dropin), lambda was=was_running: was])
    server.shell(name="nftables: egress rules loaded", commands=[layout.NFTABLES_RELOAD], _if=any_changed(*egress))
