"""PostgreSQL SCRAM-SHA-256 password verifiers, made on the control machine.

The deploy sets a tenant role's password as a ready verifier, so the plain password never reaches a host, and
compares the verifier PostgreSQL stores with the one it would set, so a re-run changes nothing (role_state_sql,
role_sql: the one role SQL of both engines). The salt is
derived from role and password (not random) for exactly that comparison; it stays unique per role and secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable

ITERATIONS = 4096  # PostgreSQL's default scram_iterations


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# A tenant role: may log in, nothing else (the same attributes in both engines).
ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
_WANTED_FLAGS = ("t", "f", "f", "f")  # rolcanlogin, rolsuper, rolcreatedb, rolcreaterole
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")  # layout.db_identifier: safe unquoted in SQL


def scram_verifier(role: str, password: str, iterations: int = ITERATIONS) -> str:
    salt = hmac.new(password.encode(), b"counselkit-scram-salt:" + role.encode(), hashlib.sha256).digest()[:16]
    return _verifier(password, salt, iterations)


def _verifier(password: str, salt: bytes, iterations: int) -> str:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def verifier_keys(role: str, password: str) -> tuple[str, str]:
    """StoredKey and ServerKey (base64) of the verifier made for `role`: secret like the password (a leak test
    greps for them)."""
    keys = scram_verifier(role, password).rsplit("$", 1)[1]
    stored_key, server_key = keys.split(":", 1)
    return stored_key, server_key


def verifier_matches(stored: str, password: str) -> bool:
    """Does PostgreSQL's stored verifier (any salt) belong to `password`?"""
    try:
        scheme, rest = stored.split("$", 1)
        params, keys = rest.split("$", 1)
        iterations, salt = params.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
    except ValueError:
        return False
    if scheme != "SCRAM-SHA-256":
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    expected_server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hmac.compare_digest(_b64(hashlib.sha256(client_key).digest()), stored_key) and \
        hmac.compare_digest(_b64(expected_server), server_key)


def _role_name(role: str) -> str:
    if not _ROLE_NAME.match(role):
        raise ValueError(f"not a PostgreSQL role name counselkit makes: {role!r}")
    return role


def role_state_sql(roles: Iterable[str]) -> str:
    """One line per existing role: name|login|superuser|createdb|createrole|iterations:salt|sha256 of the verifier.

    Only the salt and a digest of the stored verifier leave the host (in a fact or a registered result, which
    either engine may print), never the verifier: its keys allow an offline attack on the password.
    """
    names = ", ".join(f"'{_role_name(role)}'" for role in roles) or "NULL"
    return ("SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, "
            "split_part(coalesce(rolpassword, ''), '$', 2), "
            "encode(sha256(convert_to(coalesce(rolpassword, ''), 'UTF8')), 'hex') "
            f"FROM pg_authid WHERE rolname IN ({names}) ORDER BY rolname")


def _stored_verifier_fits(params: str, digest: str, password: str) -> bool:
    """Is the stored verifier (known by its iterations:salt and sha256) the one `password` gives with that salt?"""
    try:
        iterations, salt = params.split(":", 1)
        wanted = _verifier(password, base64.b64decode(salt, validate=True), int(iterations))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(hashlib.sha256(wanted.encode()).hexdigest(), digest)


def role_sql(role: str, password: str, state_lines: Iterable[str]) -> str:
    """SQL that makes `role` a login-only role whose verifier belongs to `password`; '' when it already is.

    `state_lines` is psql's unaligned output of role_state_sql. Drift — other attributes, or a stored verifier
    that does not verify the current secret — is repaired with ALTER ROLE. The SQL holds the verifier made here
    (never the password); both engines hand it to psql on stdin, never on a command line.
    """
    role = _role_name(role)
    verifier = scram_verifier(role, password)  # base64 and '$:' only: safe in a SQL string literal
    for line in state_lines:
        fields = line.rstrip("\n").split("|")
        if len(fields) != 7 or fields[0] != role:
            continue
        if tuple(fields[1:5]) == _WANTED_FLAGS and _stored_verifier_fits(fields[5], fields[6], password):
            return ""
        return f"ALTER ROLE {role} {ROLE_ATTRIBUTES} PASSWORD '{verifier}';\n"
    return f"CREATE ROLE {role} {ROLE_ATTRIBUTES} PASSWORD '{verifier}';\n"
