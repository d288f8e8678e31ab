"""Filters the counselkit roles use to build the same template context as the pyinfra deploy.

* ``counselkit | counselkit_context(counselkit_secrets)`` — counselkit.render.host_context: the host's plan data
  (hostvar ``counselkit``) plus layout and the tenants' secret values, read from ``counselkit_secrets`` (the
  ansible-vault file loaded with include_vars) by the same dotted references the pyinfra deploy uses.
* ``counselkit_secrets | counselkit_secret(ref)`` — one secret value by reference (``tenants.<slug>.<name>``).
* ``roles | counselkit_pg_role_state_sql`` and ``role | counselkit_pg_role_sql(password, state_lines)`` —
  counselkit.pgscram.role_state_sql / role_sql: the tenant role SQL of deploy/postgres.py (SCRAM verifier made
  here, drift repaired; '' when the role is as wanted).
* ``bundle | counselkit_pem_split`` — [key_pem, cert_pem] of a PEM bundle (counselkit.tls.split_bundle).
* ``counselkit.platform | counselkit_lockout_problem(auth_info, ssh_user, host)`` — counselkit.sshauth.lockout_problem:
  a message when the planned keys of the deploy user (root or an admin) would lock out this deploy, else ''.
* the escaping filters of counselkit.escape (``shquote``, ``yaml_str``, ``nginx_str``, ``comment`` ...): the same
  functions counselkit.render.environment() registers, so the shared templates render the same in both engines.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _plain(value: Any) -> Any:
    """Ansible's tagged containers and strings as plain Python data (what counselkit.render expects)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def counselkit_secret(secrets: Any, ref: str) -> str:
    node = secrets
    for part in str(ref).split("."):
        if not isinstance(node, dict) or part not in node:
            raise AnsibleFilterError(f"secret '{ref}' is missing from the secrets file; run `counselkit secrets ensure`"
                                     " (or `secrets set` for provider credentials)")
        node = node[part]
    return str(node)


def counselkit_has_secret(secrets: Any, ref: str) -> bool:
    try:
        counselkit_secret(secrets, ref)
        return True
    except AnsibleFilterError:
        return False


def counselkit_secret_exists(ref: str, secrets: Any) -> bool:
    return counselkit_has_secret(secrets, ref)


def counselkit_keycloak_sql(password: str) -> str:
    """The idempotent role/database SQL of deploy/keycloak.py (one source for both engines)."""
    from deploy.keycloak import _database_sql

    return _database_sql(str(password))


def counselkit_pg_role_state_sql(roles: Any) -> str:
    from counselkit.pgscram import role_state_sql

    return role_state_sql(str(role) for role in _plain(list(roles)))


def counselkit_pg_role_sql(role: str, password: str, state_lines: Any) -> str:
    from counselkit.pgscram import role_sql

    try:
        return role_sql(str(role), str(password), [str(line) for line in _plain(list(state_lines or []))])
    except ValueError as error:
        raise AnsibleFilterError(str(error)) from None


def counselkit_context(host_vars: Any, secrets: Any = None) -> dict[str, Any]:
    from counselkit import render

    plain = _plain(host_vars)
    return render.host_context(plain, None if secrets is None else (lambda ref: counselkit_secret(secrets, ref)))


def counselkit_pem_split(bundle: str) -> list[str]:
    from counselkit.tls import split_bundle

    key, cert = split_bundle(str(bundle))
    return [key if isinstance(key, str) else key.decode(), cert if isinstance(cert, str) else cert.decode()]


def counselkit_lockout_problem(platform: Any, auth_info: str, ssh_user: str, host: str) -> str:
    from counselkit.sshauth import lockout_problem

    return lockout_problem(_plain(platform), str(auth_info), str(ssh_user), str(host)) or ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "counselkit_context": counselkit_context,
            "counselkit_secret": counselkit_secret,
            "counselkit_has_secret": counselkit_has_secret,
            "counselkit_secret_exists": counselkit_secret_exists,
            "counselkit_keycloak_sql": counselkit_keycloak_sql,
            "counselkit_pg_role_state_sql": counselkit_pg_role_state_sql,
            "counselkit_pg_role_sql": counselkit_pg_role_sql,
            "counselkit_pem_split": counselkit_pem_split,
            "counselkit_lockout_problem": counselkit_lockout_problem,
            **_escape_filters(),
        }


def _escape_filters() -> dict[str, Any]:
    from counselkit.escape import FILTERS

    return dict(FILTERS)
