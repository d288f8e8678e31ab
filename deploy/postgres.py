"""PostgreSQL 15 from Debian: loopback only, SCRAM, one database and role per tenant (C collation), nothing shared."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.facts.server import Command
from pyinfra.operations import apt, postgres, systemd

from counselkit import layout

from .common import context, put_template

AS_POSTGRES = {"_sudo": True, "_sudo_user": "postgres"}


def _psql(sql: str) -> str:
    return f"psql -X -q -v ON_ERROR_STOP=1 -d postgres -Atc \"{sql}\""


@operation()
def revoke_public_connect(database: str):
    """REVOKE CONNECT, TEMPORARY ON DATABASE FROM PUBLIC — only while PUBLIC still has them (idempotent)."""
    query = (f"SELECT has_database_privilege('public', '{database}', 'CONNECT') "
             f"OR has_database_privilege('public', '{database}', 'TEMPORARY')")
    granted = host.get_fact(Command, f"cd / && sudo -u postgres {_psql(query)}")
    if (granted or "").strip() == "t":
        revoke = f"REVOKE ALL ON DATABASE {database} FROM PUBLIC"  # names are [a-z0-9_] (layout.db_identifier)
        yield f"cd / && sudo -u postgres {_psql(revoke)}"
    else:
        host.noop(f"PUBLIC has no access to database {database}")


@deploy("counselkit: PostgreSQL")
def postgresql() -> None:
    ctx = context()
    apt.packages(name="PostgreSQL 15", packages=[f"postgresql-{layout.POSTGRES_VERSION}"], no_recommends=True)
    conf = put_template("postgres/counselkit.conf.j2", layout.POSTGRES_CONF_DROPIN, user="postgres",
                        group="postgres", mode="644")
    hba = put_template("postgres/pg_hba.conf.j2", layout.POSTGRES_HBA, user="postgres", group="postgres", mode="640")
    systemd.service(name="PostgreSQL running", service=layout.POSTGRES_UNIT, running=True, enabled=True)
    systemd.service(name="Restart PostgreSQL (listen/auth settings)", service=layout.POSTGRES_UNIT, restarted=True,
                    _if=conf.did_change)
    systemd.service(name="Reload PostgreSQL (pg_hba)", service=layout.POSTGRES_UNIT, reloaded=True,
                    _if=hba.did_change)
    for tenant in ctx["tenants"]:
        postgres.role(name=f"Role {tenant['db_user']}", role=tenant["db_user"], login=True,
                      password=tenant["secret_values"]["synapse_db_password"], **AS_POSTGRES)
        postgres.database(name=f"Database {tenant['db_name']}", database=tenant["db_name"], owner=tenant["db_user"],
                          template="template0", encoding="UTF8", lc_collate="C", lc_ctype="C", **AS_POSTGRES)
        revoke_public_connect(name=f"Only {tenant['db_user']} may connect to {tenant['db_name']}",
                              database=tenant["db_name"])
