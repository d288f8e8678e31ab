"""PostgreSQL 15 from Debian: loopback only, SCRAM, one database and role per tenant (C collation), nothing shared."""

from __future__ import annotations

import secrets as random_source
import shlex
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, deploy, operation
from pyinfra.facts.server import Command
from pyinfra.operations import apt, postgres, systemd
from pyinfra.operations.util import any_changed

from counselkit import layout
from counselkit.pgscram import role_sql, role_state_sql

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


def _psql_stdin(sql: str):
    """Commands that run `sql` through psql on stdin: never on a command line (every local user may read argv).

    The SQL goes by SFTP into a fresh directory only root may enter (mkdir -m 700 fails if the name exists), and
    is removed after psql has read it, whatever psql's exit status.
    """
    workdir = f"/tmp/.counselkit-sql-{random_source.token_hex(8)}"
    script = f"{workdir}/input.sql"
    yield f"mkdir -m 700 {workdir}"
    yield FileUploadCommand(BytesIO(sql.encode()), script)
    yield (f"cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres -f - < {script}; "
           f"status=$?; rm -rf {workdir}; exit $status")


@operation()
def tenant_role(role: str, password: str):
    """A LOGIN role with no other powers whose SCRAM verifier belongs to `password` (idempotent, drift repaired).

    pyinfra's postgres.role re-sets a given password on every run and puts it on the command line; here the
    verifier is made on the control machine (counselkit.pgscram.role_sql, shared with roles/postgresql), compared
    with pg_authid by salt and digest, and sent on psql's stdin: the plain password never reaches the host, the
    verifier never a command line or the output.
    """
    state = host.get_fact(Command, f"cd / && sudo -u postgres {_psql(role_state_sql([role]))}") or ""
    sql = role_sql(role, password, state.splitlines())
    if not sql:
        host.noop(f"role {role} is as wanted")
        return
    yield from _psql_stdin(sql)


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
