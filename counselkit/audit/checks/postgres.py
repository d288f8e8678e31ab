"""Checks of PostgreSQL."""

from __future__ import annotations

from counselkit import layout

from ..context import CheckContext, Finding, failed, is_loopback, verdict
from .registry import check, no_tenants


@check("postgres_local_only", "PostgreSQL listens on loopback only")
def postgres_local_only(ctx: CheckContext) -> Finding:
    expected = f"port {layout.POSTGRES_PORT} bound to 127.0.0.1/::1 only; listen_addresses localhost"
    listeners = ctx.listeners or []
    sockets = [f"{a}:{p}" for proto, a, p, _ in listeners if proto == "tcp" and p == layout.POSTGRES_PORT]
    ok, rows, error = ctx.psql("SHOW listen_addresses")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    value = rows[0][0] if rows else ""
    problems = [f"listening on {s}" for s in sockets if not is_loopback(s.rsplit(':', 1)[0])]
    if value not in {"localhost", "127.0.0.1", "::1", "127.0.0.1,::1", "localhost,127.0.0.1", ""}:
        problems.append(f"listen_addresses = {value}")
    return verdict(problems, expected, f"listen_addresses = {value}; sockets: {', '.join(sockets) or 'unix socket only'}")


@check("postgres_scram_only", "password_encryption scram-sha-256; pg_hba: no trust/md5/password, TCP from loopback only")
def postgres_scram_only(ctx: CheckContext) -> Finding:
    expected = "password_encryption = scram-sha-256; hba rules use peer (local) or scram-sha-256; host rules loopback only"
    ok, rows, error = ctx.psql("SHOW password_encryption")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    encryption = rows[0][0] if rows else "?"
    ok, hba, error = ctx.psql("SELECT line_number, type, array_to_string(database, ','), array_to_string(user_name, ','), "
                              "coalesce(address, ''), coalesce(netmask, ''), auth_method FROM pg_hba_file_rules "
                              "WHERE error IS NULL ORDER BY line_number")
    if not ok:
        return Finding("error", expected, error, "could not read pg_hba_file_rules")
    problems = [] if encryption == "scram-sha-256" else [f"password_encryption = {encryption}"]
    for line, kind, dbs, users, address, mask, method in hba:
        if method not in {"peer", "scram-sha-256", "reject"}:
            problems.append(f"pg_hba line {line}: {kind} {dbs} {users} {address} {method}")
        if kind.startswith("host") and method != "reject" and address and not (address.startswith("127.") or address == "::1"):
            problems.append(f"pg_hba line {line}: {kind} from {address}/{mask}")
    shown = "\n".join(" ".join(r) for r in hba)
    return verdict(problems, expected, f"password_encryption = {encryption}\n{shown}")


@check("postgres_roles_least_privilege", "tenant roles are plain roles; PUBLIC may not connect to tenant databases")
def postgres_roles_least_privilege(ctx: CheckContext) -> Finding:
    expected = "each tenant role exists without SUPERUSER/CREATEDB/CREATEROLE/REPLICATION/BYPASSRLS; PUBLIC lacks CONNECT to them and to the maintenance databases"
    if not ctx.tenants:
        return no_tenants(expected)
    names = ",".join(f"'{t.db_user}'" for t in ctx.tenants)
    ok, rows, error = ctx.psql(f"SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                               f"FROM pg_roles WHERE rolname IN ({names}) ORDER BY rolname")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    problems = []
    present = {r[0] for r in rows}
    problems += [f"role {t.db_user} missing" for t in ctx.tenants if t.db_user not in present]
    for name, *flags in rows:
        granted = [attr for attr, flag in zip(("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS"), flags)
                   if flag == "t"]
        if granted:
            problems.append(f"role {name} has {', '.join(granted)}")
    dbs = ",".join(f"'{name}'" for name in [t.db_name for t in ctx.tenants] + list(layout.POSTGRES_MAINTENANCE_DBS))
    ok, public, error = ctx.psql(f"SELECT datname, has_database_privilege('public', datname, 'CONNECT') FROM pg_database "
                                 f"WHERE datname IN ({dbs}) ORDER BY datname")
    problems += [f"PUBLIC may connect to {d}" for d, flag in public if flag == "t"]
    problems += [f"database {t.db_name} missing" for t in ctx.tenants if t.db_name not in {p[0] for p in public}]
    return verdict(problems, expected, "\n".join("|".join(r) for r in rows + public))


@check("postgres_passwords_hashed", "tenant role passwords are stored as SCRAM-SHA-256 verifiers, never in clear or MD5")
def postgres_passwords_hashed(ctx: CheckContext) -> Finding:
    expected = "pg_authid.rolpassword of each tenant role starts with SCRAM-SHA-256$ (only this boolean is read)"
    if not ctx.tenants:
        return no_tenants(expected)
    names = ",".join(f"'{t.db_user}'" for t in ctx.tenants)
    ok, rows, error = ctx.psql(f"SELECT rolname, coalesce(rolpassword LIKE 'SCRAM-SHA-256$%', false) FROM pg_authid "
                               f"WHERE rolname IN ({names}) ORDER BY rolname")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    problems = [f"role {name}: password not a SCRAM verifier" for name, flag in rows if flag != "t"]
    problems += [f"role {t.db_user} missing" for t in ctx.tenants if t.db_user not in {r[0] for r in rows}]
    return verdict(problems, expected, "\n".join(f"{n}: SCRAM verifier" for n, _ in rows))
