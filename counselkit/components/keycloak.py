"""Keycloak as a component spec (deploy/keycloak.py and roles/keycloak loop over it).

Packages (the Java runtime is chosen per distribution by each engine from ``layout["java_packages"]``: only the host
tells its distribution), the keycloak group and system user, the directories, keycloak.conf, the secrets'
environment file, the bootstrap admin file (written only while ``layout["bootstrap"]["stamp"]`` is missing), the
sandboxed unit, and each tenant's login theme inside the release (written after the unpack: the files of context
``layout["release"]["context"]``); the daemon-reload and restart of what changed, and the unit. The templates render
with Keycloak's own contexts (``File.context``; host vars ``keycloak``, counselkit.keycloak.render.plain_data) plus
the secret values each engine adds (``layout["secrets"]``). What is not a file from a template stays code in each
engine, reading its names from ``layout``: the database SQL (a SCRAM verifier made on the control machine), the
archive (fetched and verified on the control machine, verified again and unpacked on the host), ``kc.sh build``,
the health wait and the bootstrap stamp.
"""

from __future__ import annotations

from typing import Any

from counselkit import layout

from . import Component, Directory, File, Handler, Service, User

RESTART = "Restart Keycloak"
RELOAD_UNITS = "Reload systemd units (Keycloak)"
# Topic: the unit or the release changed (daemon-reload, then the restart)
UNIT_CHANGED = "Keycloak unit or release changed"
PACKAGES = ("curl", "ca-certificates")  # the Java runtime comes from layout["java_packages"]
CONFIG_MODE = "0640"  # root:keycloak
ROOT_ONLY = "0600"
THEME_CONTEXT = "theme"  # File.context of the login themes' files (inside the release: after the unpack)
UNIT_PATH = f"/etc/systemd/system/{layout.KEYCLOAK_UNIT}"
DATABASE_SQL = f"{layout.KEYCLOAK_CONFIG_DIR}/database.sql"


def _directories() -> list[Directory]:
    group = layout.KEYCLOAK_GROUP
    return [Directory(layout.KEYCLOAK_HOME, group=group), Directory(layout.KEYCLOAK_RELEASES, group=group),
            Directory(layout.KEYCLOAK_ARCHIVE_DIR, group=group, mode="0700"),
            Directory(layout.KEYCLOAK_CONFIG_DIR, group=group, mode="0750"),
            Directory(layout.KEYCLOAK_DATA_DIR, owner=layout.KEYCLOAK_USER, group=group, mode="0700")]


def _files(data: dict[str, Any]) -> list[File]:
    from counselkit.keycloak.render import THEME_TEMPLATES

    group = layout.KEYCLOAK_GROUP
    found = [File("keycloak/keycloak.conf.j2", layout.KEYCLOAK_CONF, group=group, mode=CONFIG_MODE, handler=RESTART,
                  context="conf"),
             # the database password
             File("keycloak/keycloak.env.j2", layout.KEYCLOAK_ENV_FILE, group=group, mode=CONFIG_MODE,
                  handler=RESTART, sensitive=True, context="env"),
             # the bootstrap admin's password, until the first start created the admin
             File("keycloak/keycloak-bootstrap.env.j2", layout.KEYCLOAK_BOOTSTRAP_ENV_FILE, mode=ROOT_ONLY,
                  handler=RESTART, sensitive=True, context="bootstrap"),
             File("keycloak/keycloak.service.j2", UNIT_PATH, handler=UNIT_CHANGED, context="unit")]
    themes = f"{layout.keycloak_release(data['version'])}/themes"
    for slug in data["contexts"][THEME_CONTEXT]:
        theme = layout.keycloak_theme(slug)
        found += [File(template, f"{themes}/{theme}/{relative}", handler=RESTART, tenant=slug, context=THEME_CONTEXT)
                  for relative, template in THEME_TEMPLATES.items()]
    return found


def keycloak(vars: dict[str, Any]) -> Component:
    """Keycloak on one host (vars: counselkit.render.host_vars of it, its ``keycloak`` data)."""
    data = vars["keycloak"]
    version = data["version"]
    return Component(
        name="keycloak",
        packages=PACKAGES,
        groups=(layout.KEYCLOAK_GROUP,),
        users=(User(layout.KEYCLOAK_USER, group=layout.KEYCLOAK_GROUP, home=layout.KEYCLOAK_DATA_DIR),),
        directories=tuple(_directories()),
        files=tuple(_files(data)),
        handlers=(Handler(RELOAD_UNITS, daemon_reload=True, listen=(UNIT_CHANGED,)),
                  Handler(RESTART, unit=layout.KEYCLOAK_UNIT, action="restarted", listen=(UNIT_CHANGED,))),
        services=(Service(layout.KEYCLOAK_UNIT),),
        layout={
            # distribution (ID-VERSION_ID of /etc/os-release) -> the Java runtime package
            "java_packages": dict(layout.KEYCLOAK_JAVA_PACKAGES),
            "contexts": data["contexts"],
            "secrets": data["secrets"],  # File.context -> template variable -> secret reference
            # the bootstrap admin file is written only while the stamp is missing; set once Keycloak is healthy
            "bootstrap": {"file": layout.KEYCLOAK_BOOTSTRAP_ENV_FILE, "stamp": layout.KEYCLOAK_BOOTSTRAP_STAMP,
                          "stamp_mode": ROOT_ONLY},
            # the role and database, created from SQL holding the SCRAM verifier (psql reads the root-only file)
            "database": {"sql_file": DATABASE_SQL, "mode": ROOT_ONLY, "role": layout.KEYCLOAK_DB_USER,
                         "db": layout.KEYCLOAK_DB},
            # the pinned archive, unpacked into ``dir``; files of ``context`` go into it afterwards; ``handler``:
            # the topic a new upload or release link triggers
            "release": {"version": version, "dir": layout.keycloak_release(version), "archive_dir": layout.KEYCLOAK_ARCHIVE_DIR,
                        "current": layout.KEYCLOAK_CURRENT, "data_dir": layout.KEYCLOAK_DATA_DIR,
                        "conf": layout.KEYCLOAK_CONF, "context": THEME_CONTEXT, "handler": UNIT_CHANGED},
            "health_url": f"http://127.0.0.1:{data['management_port']}{layout.KEYCLOAK_PATH}/health/ready",
        },
        secrets=tuple(ref for refs in data["secrets"].values() for ref in refs.values()),
    )


def components(vars: dict[str, Any]) -> dict[str, Component]:
    return {"keycloak": keycloak(vars)}
