"""PostgreSQL 15 from Debian as a component spec (deploy/postgres.py and roles/postgresql loop over it).

Package, the three configuration files (settings restart the server, pg_hba/pg_ident only reload it) and the unit.
What is not a list — the tenants' roles (SCRAM verifier made on the control machine, counselkit.pgscram), their
databases and the REVOKEs on PUBLIC — stays code in each engine, reading psql's argv (layout.POSTGRES_PSQL) and
the maintenance databases from ``layout`` below.
"""

from __future__ import annotations

from typing import Any

from counselkit import layout, render

from . import Component, File, Handler, Service

RESTART = "Restart PostgreSQL"  # listen address, authentication and logging settings need a restart
RELOAD = "Reload PostgreSQL"  # pg_hba and pg_ident are re-read on reload

PACKAGES = (f"postgresql-{layout.POSTGRES_VERSION}",)
HANDLERS = (
    Handler(RESTART, unit=layout.POSTGRES_UNIT, action="restarted"),
    Handler(RELOAD, unit=layout.POSTGRES_UNIT, action="reloaded"),
)
_OWNED = {"owner": layout.POSTGRES_SUPERUSER, "group": layout.POSTGRES_SUPERUSER}
# template -> how its file is installed (destination: counselkit.render.HOST_TEMPLATES), in deploy order
_FILES: dict[str, dict[str, Any]] = {
    "postgres/counselkit.conf.j2": {**_OWNED, "mode": "0644", "handler": RESTART},
    "postgres/pg_hba.conf.j2": {**_OWNED, "mode": "0640", "handler": RELOAD},
    "postgres/pg_ident.conf.j2": {**_OWNED, "mode": "0640", "handler": RELOAD},
}


def postgresql(vars: dict[str, Any]) -> Component:
    """The database server of one host (vars: counselkit.render.host_vars of it; the same on every host)."""
    return Component(
        name="postgresql",
        packages=PACKAGES,
        files=tuple(File(template=name, dest=render.HOST_TEMPLATES[name], **options) for name, options in _FILES.items()),
        handlers=HANDLERS,
        services=(Service(layout.POSTGRES_UNIT),),
        layout={"psql": list(layout.POSTGRES_PSQL), "maintenance_dbs": list(layout.POSTGRES_MAINTENANCE_DBS)},
        secrets=tuple(t["secrets"]["synapse_db_password"] for t in vars["tenants"]),
    )


def components(vars: dict[str, Any]) -> dict[str, Component]:
    return {"postgresql": postgresql(vars)}
