"""Checks of secrets at rest."""

from __future__ import annotations

from counselkit import layout

from ..context import CheckContext, Finding, failed, verdict
from .registry import check


@check("secret_files_protected", "no file under the counselkit config, TLS and backup directories is readable by others")
def secret_files_protected(ctx: CheckContext) -> Finding:
    roots = [layout.COUNSELKIT_ETC]
    if ctx.run("test", "-d", layout.KEYCLOAK_HOME).rc == 0:
        roots.append(f"{layout.KEYCLOAK_HOME}/conf")
    expected = f"{layout.COUNSELKIT_ETC} exists; no file below {', '.join(roots)} readable/writable by others; backup dirs mode ≤ 0700"
    if ctx.run("test", "-d", layout.COUNSELKIT_ETC).rc != 0:
        return failed(expected, f"{layout.COUNSELKIT_ETC} does not exist: nothing was deployed")
    exposed = ctx.out("find", *roots, "-type", "f", "-perm", "/o+rw", "-printf", "%p %u:%g %m\\n").splitlines()
    # Public material that may be world-readable: certificates, web client config.
    exposed = [line for line in exposed if not line.split()[0].endswith((".crt", ".pem.pub", ".pub", "fullchain.pem", "chain.pem"))]
    problems = [f"readable by others: {line}" for line in exposed]
    for tenant in ctx.tenants:
        row = ctx.out("stat", "-c", "%U %a", tenant.backup_config_dir).split()
        if not row:
            problems.append(f"{tenant.backup_config_dir} missing")
        elif int(row[1], 8) & 0o077:
            problems.append(f"{tenant.backup_config_dir} {row[0]} {row[1]}")
    return verdict(problems, expected, f"no file below {', '.join(roots)} accessible to others")
