"""Synapse as a component spec (deploy/synapse.py and roles/synapse loop over it).

One pinned release in one venv (the hashed requirements file copied from the repository, then pip: code in each
engine), the counselling module copied from ``synapse_module/`` (docs/counselling.md), the template unit, and per
tenant: its system group and user, config/data/media directories, homeserver.yaml and log config, the unit's
drop-in and egress rules, its signing key (generated once on the host: code, listed in ``layout``) and its
instance. Restarts: a tenant's instance restarts when one of its files changed, and every instance when the
release, the template unit or the module changed (handlers listening to topics, ``Handler.listen``); a stopped
instance is started instead, so a new tenant starts once.
"""

from __future__ import annotations

import posixpath
from typing import Any

from counselkit import layout, render

from . import Component, Copy, Directory, File, Handler, Service, User

RELOAD_UNITS = "Reload systemd units (Synapse)"
LOAD_EGRESS = "Load egress rules (Synapse)"
COMPILE_BYTECODE = "Compile Synapse bytecode (the unit's interpreter flags)"
# Topics (no handler of these names): what makes several handlers run.
UNIT_TEMPLATE_CHANGED = "Synapse template unit changed"  # daemon-reload, then every instance restarts
RESTART_ALL = "Restart every tenant's Synapse"  # the release or the counselling module changed

CONFIG_MODE = "0640"  # root:<tenant> — the tenant's Synapse reads, nobody else
CONFIG_DIR_MODE = "0750"
DATA_MODE = "0700"
SIGNING_KEY_MODE = "0600"
_TENANT_FILES = ("synapse/homeserver.yaml.j2", "synapse/log.config.j2", "synapse/unit-dropin.conf.j2",
                 "base/egress-synapse.nft.j2")
# holds the tenant's database password, macaroon and form secrets, the relay password
_SENSITIVE = ("synapse/homeserver.yaml.j2",)


def restart(unit: str) -> str:
    return f"Restart {unit}"


def dropin_changed(unit: str) -> str:
    """Topic: the instance's drop-in changed (daemon-reload, then that instance restarts)."""
    return f"{unit} drop-in changed"


def _key(template: str) -> str:
    return render.TENANT_TEMPLATES[template]


def _tenant_file(tenant: dict[str, Any], template: str) -> File:
    user, unit = tenant["unix_user"], tenant["unit"]
    dest = tenant[_key(template)]
    if template == "synapse/unit-dropin.conf.j2":
        return File(template=template, dest=dest, tenant=tenant["slug"], handler=dropin_changed(unit))
    if template == "base/egress-synapse.nft.j2":
        return File(template=template, dest=dest, tenant=tenant["slug"], mode=layout.NFTABLES_EGRESS_MODE,
                    handler=LOAD_EGRESS)
    return File(template=template, dest=dest, group=user, mode=CONFIG_MODE, tenant=tenant["slug"],
                handler=restart(unit), sensitive=template in _SENSITIVE)


def _directories(tenants: list[dict[str, Any]]) -> list[Directory]:
    found = [Directory(posixpath.dirname(layout.SYNAPSE_REQUIREMENTS_HOST)),
             Directory(layout.SYNAPSE_MODULE_ROOT), Directory(layout.SYNAPSE_MODULE_DIR),
             Directory(layout.SYNAPSE_PYCACHE)]  # root's: the tenants read the bytecode, never write it
    # the tenants' parents, root 0755 as `mkdir -p` makes them (Ansible's file module would give created parents
    # the tenant's owner and mode)
    parents = {posixpath.dirname(p) for t in tenants for p in (t["data_dir"], t["config_dir"])}
    found += [Directory(p) for p in sorted(parents | {posixpath.dirname(p) for p in parents})]
    found.append(Directory(layout.NFTABLES_EGRESS_DIR))  # nftables.conf includes its *.nft
    for t in tenants:
        user = t["unix_user"]
        found += [Directory(t["config_dir"], group=user, mode=CONFIG_DIR_MODE),
                  Directory(t["data_dir"], owner=user, group=user, mode=DATA_MODE),
                  Directory(t["media_dir"], owner=user, group=user, mode=DATA_MODE),
                  Directory(posixpath.dirname(t["unit_dropin"]))]
    return found


def _copies(version: str) -> list[Copy]:
    # the requirements file triggers nothing itself: the venv install (code) that reads it does
    found = [Copy(layout.synapse_requirements_file(version), layout.SYNAPSE_REQUIREMENTS_HOST)]
    found += [Copy(source, dest, handler=RESTART_ALL) for source, dest in layout.synapse_module_files().items()]
    return found


def _handlers(tenants: list[dict[str, Any]]) -> list[Handler]:
    units = [t["unit"] for t in tenants]
    found = [Handler(RELOAD_UNITS, daemon_reload=True,
                     listen=(UNIT_TEMPLATE_CHANGED, *(dropin_changed(u) for u in units))),
             # egress rules before the instances (re)start; after the users exist (nft resolves their names)
             Handler(LOAD_EGRESS, argv=("sh", "-c", layout.NFTABLES_RELOAD)),
             # docs/memory.md: bytecode compiled with the unit's flags into the root-owned cache whenever what it is
             # compiled from (release, module) or with (the unit's flags) changed; before the instances restart
             Handler(COMPILE_BYTECODE, argv=layout.SYNAPSE_BYTECODE_COMPILE, listen=(UNIT_TEMPLATE_CHANGED, RESTART_ALL))]
    found += [Handler(restart(u), unit=u, action="restarted", listen=(UNIT_TEMPLATE_CHANGED, RESTART_ALL,
                                                                      dropin_changed(u))) for u in units]
    return found


def _secrets(vars: dict[str, Any]) -> list[str]:
    found = [t["secrets"][name] for t in vars["tenants"] for name in layout.SYNAPSE_SECRETS]
    notices = vars["platform"]["notices"]
    return found + ([notices["password_ref"]] if notices and notices["password_ref"] else [])


def synapse(vars: dict[str, Any]) -> Component:
    """Every tenant's Synapse on one host (vars: counselkit.render.host_vars of it)."""
    tenants = vars["tenants"]
    version = vars["platform"]["synapse_version"]
    files = [File(template="synapse/matrix-synapse@.service.j2", dest=layout.SYNAPSE_UNIT_PATH,
                  handler=UNIT_TEMPLATE_CHANGED)]
    files += [_tenant_file(t, name) for t in tenants for name in _TENANT_FILES]
    return Component(
        name="synapse",
        groups=tuple(t["unix_user"] for t in tenants),
        users=tuple(User(t["unix_user"], group=t["unix_user"], home=t["data_dir"]) for t in tenants),
        directories=tuple(_directories(tenants)),
        copies=tuple(_copies(version)),
        files=tuple(files),
        handlers=tuple(_handlers(tenants)),
        services=tuple(Service(t["unit"]) for t in tenants),
        layout={
            # the venv gets exactly the copied requirements; the stamp is written after a complete install
            "release": {"version": version, "venv": layout.SYNAPSE_VENV,
                        "requirements": layout.SYNAPSE_REQUIREMENTS_HOST,
                        "source": layout.synapse_requirements_file(version),
                        "stamp": layout.SYNAPSE_REQUIREMENTS_STAMP, "handler": RESTART_ALL},
            # generated once on the host as the tenant's user, never replaced (remote servers and clients pin it)
            "signing_keys": [{"tenant": t["slug"], "path": t["signing_key_path"], "owner": t["unix_user"],
                              "group": t["unix_user"], "mode": SIGNING_KEY_MODE} for t in tenants],
            # what a change of a tenant's other files (Keycloak's OIDC provider) runs
            "restart_handlers": {t["slug"]: restart(t["unit"]) for t in tenants},
        },
        secrets=tuple(_secrets(vars)),
    )


def components(vars: dict[str, Any]) -> dict[str, Component]:
    return {"synapse": synapse(vars)}
