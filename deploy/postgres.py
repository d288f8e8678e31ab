"""PostgreSQL 15 from Debian: loopback only, SCRAM, one database and role per tenant (C collation), nothing shared.

Package, configuration files, their restart/reload and the unit come from the component spec
(counselkit/components/postgres.py), which roles/postgresql loops over too. The tenants' roles, databases and
REVOKEs are code here (and there), with psql's argv from counselkit.layout.
"""

from __future__ import annotations

import secrets as random_source
import shlex
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, deploy, operation
from pyinfra.facts.server import Command
from pyinfra.operations import postgres

from counselkit import layout
from counselkit.components import postgres as postgres_spec
from counselkit.pgscram import role_sql, role_state_sql

from .common import context, host_vars, in_container
from .components import install_files, install_packages

AS_POSTGRES = {"_sudo": True, "_sudo_user": layout.POSTGRES_SUPERUSER}


def psql(sql: str) -> str:
    """A command line that runs one query as the local superuser (layout.POSTGRES_PSQL) from /.

    For statements that hold no secret: SCRAM verifiers go by psql_stdin. Single-quoted for the shell (a
    verifier's '$' would expand in double quotes)."""
    return "cd / && " + shlex.join([*layout.POSTGRES_PSQL, "-c", sql])


def psql_script(path: str) -> str:
    """A command line that runs the SQL file `path` (root may read it, postgres need not) on psql's stdin."""
    return f"cd / && {shlex.join([*layout.POSTGRES_PSQL, '-f', '-'])} < {shlex.quote(path)}"


@operation()
def revoke_public_connect(database: str):
    """REVOKE CONNECT, TEMPORARY ON DATABASE FROM PUBLIC — only while PUBLIC still has them (idempotent)."""
    query = (f"SELECT has_database_privilege('public', '{database}', 'CONNECT') "
             f"OR has_database_privilege('public', '{database}', 'TEMPORARY')")
    granted = host.get_fact(Command, psql(query))
    if (granted or "").strip() == "t":
        yield psql(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")  # names are [a-z0-9_] (layout.db_identifier)
    else:
        host.noop(f"PUBLIC has no access to database {database}")


def psql_stdin(sql: str):
    """Commands that run `sql` through psql on stdin: never on a command line (every local user may read argv).

    The SQL goes by SFTP into a fresh directory only root may enter (mkdir -m 700 fails if the name exists), and
    is removed after psql has read it, whatever psql's exit status.
    """
    workdir = f"/tmp/.counselkit-sql-{random_source.token_hex(8)}"
    script = f"{workdir}/input.sql"
    yield f"mkdir -m 700 {workdir}"
    yield FileUploadCommand(BytesIO(sql.encode()), script)
    yield f"{psql_script(script)}; status=$?; rm -rf {workdir}; exit $status"


@operation()
def tenant_role(role: str, password: str):
    """A LOGIN role with no other powers whose SCRAM verifier belongs to `password` (idempotent, drift repaired).

    pyinfra's postgres.role re-sets a given password on every run and puts it on the command line; here the
    verifier is made on the control machine (counselkit.pgscram.role_sql, shared with roles/postgresql), compared
    with pg_authid by salt and digest, and sent on psql's stdin: the plain password never reaches the host, the
    verifier never a command line or the output.
    """
    state = host.get_fact(Command, psql(role_state_sql([role]))) or ""
    sql = role_sql(role, password, state.splitlines())
    if not sql:
        host.noop(f"role {role} is as wanted")
        return
    yield from psql_stdin(sql)


@deploy("counselkit: PostgreSQL")
def postgresql() -> None:
    ctx = context()
    component = postgres_spec.postgresql(host_vars())
    install_packages(component)
    # settings (restart), pg_hba and pg_ident (reload), then the unit running: before any tenant is created
    install_files(component, in_container())
    for tenant in ctx["tenants"]:
        tenant_role(name=f"Role {tenant['db_user']}", role=tenant["db_user"],
                    password=tenant["secret_values"]["synapse_db_password"])
        postgres.database(name=f"Database {tenant['db_name']}", database=tenant["db_name"], owner=tenant["db_user"],
                          template="template0", encoding="UTF8", lc_collate="C", lc_ctype="C", **AS_POSTGRES)
        revoke_public_connect(name=f"Only {tenant['db_user']} may connect to {tenant['db_name']}",
                              database=tenant["db_name"])
    # Tenant roles have no business in the maintenance databases either (pg_hba refuses them already).
    for database in component.layout["maintenance_dbs"]:
        revoke_public_connect(name=f"Only superusers may connect to {database}", database=database)
