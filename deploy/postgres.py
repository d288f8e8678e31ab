"""PostgreSQL 15 from Debian: loopback only, SCRAM, one database and role per tenant (C collation), nothing shared."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation
from pyinfra.api.command import HiddenValue
from pyinfra.facts.server import Command
from pyinfra.operations import apt, postgres, systemd
from pyinfra.operations.util import any_changed

from counselkit import layout
from counselkit.pgscram import scram_verifier, verifier_matches

from .common import context, put_template

AS_POSTGRES = {"_sudo": True, "_sudo_user": "postgres"}


def _psql(sql: str) -> str:
    # Single-quoted for the shell: SCRAM verifiers hold '$', which double quotes would expand.
    return f"psql -X -q -v ON_ERROR_STOP=1 -d postgres -Atc {shlex.quote(sql)}"


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


@operation()
def tenant_role(role: str, password: str):
    """A LOGIN role with no other powers whose SCRAM verifier matches `password` (idempotent).

    pyinfra's postgres.role re-sets a given password on every run and puts it on the command line; here the
    verifier is made on the control machine and compared with pg_authid, so a re-run is a no-op and the plain
    password never reaches the host.
    """
    query = f"SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, coalesce(rolpassword, '') FROM pg_authid WHERE rolname = '{role}'"
    row = (host.get_fact(Command, f"cd / && sudo -u postgres {_psql(query)}") or "").strip()
    verifier = scram_verifier(role, password)
    if not row:
        sql = f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{verifier}'"
    else:
        login, superuser, createdb, createrole, stored = row.split("|", 4)
        if (login, superuser, createdb, createrole) == ("t", "f", "f", "f") and verifier_matches(stored, password):
            host.noop(f"role {role} is as wanted")
            return
        sql = f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{verifier}'"
    # Role names are [a-z0-9_] (layout.db_identifier); the verifier is base64 and '$:' only.
    yield StringCommand("cd / && sudo -u postgres", HiddenValue(_psql(sql)))


@deploy("counselkit: PostgreSQL")
def postgresql() -> None:
    ctx = context()
    apt.packages(name="PostgreSQL 15", packages=[f"postgresql-{layout.POSTGRES_VERSION}"], no_recommends=True)
    conf = put_template("postgres/counselkit.conf.j2", layout.POSTGRES_CONF_DROPIN, user="postgres",
                        group="postgres", mode="644")
    hba = put_template("postgres/pg_hba.conf.j2", layout.POSTGRES_HBA, user="postgres", group="postgres", mode="640")
    ident = put_template("postgres/pg_ident.conf.j2", layout.POSTGRES_IDENT, user="postgres", group="postgres",
                         mode="640")
    systemd.service(name="PostgreSQL running", service=layout.POSTGRES_UNIT, running=True, enabled=True)
    systemd.service(name="Restart PostgreSQL (listen/auth settings)", service=layout.POSTGRES_UNIT, restarted=True,
                    _if=conf.did_change)
    systemd.service(name="Reload PostgreSQL (pg_hba, pg_ident)", service=layout.POSTGRES_UNIT, reloaded=True,
                    _if=any_changed(hba, ident))
    for tenant in ctx["tenants"]:
        tenant_role(name=f"Role {tenant['db_user']}", role=tenant["db_user"],
                    password=tenant["secret_values"]["synapse_db_password"])
        postgres.database(name=f"Database {tenant['db_name']}", database=tenant["db_name"], owner=tenant["db_user"],
                          template="template0", encoding="UTF8", lc_collate="C", lc_ctype="C", **AS_POSTGRES)
        revoke_public_connect(name=f"Only {tenant['db_user']} may connect to {tenant['db_name']}",
                              database=tenant["db_name"])
    # Tenant roles have no business in the maintenance databases either (pg_hba refuses them already).
    for database in layout.POSTGRES_MAINTENANCE_DBS:
        revoke_public_connect(name=f"Only superusers may connect to {database}", database=database)
