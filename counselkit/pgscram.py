"""PostgreSQL SCRAM-SHA-256 password verifiers, made on the control machine.

The deploy sets a tenant role's password as a ready verifier, so the plain password never reaches a host, and
compares the verifier PostgreSQL stores with the one it would set, so a re-run changes nothing. The salt is
derived from role and password (not random) for exactly that comparison; it stays unique per role and secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

ITERATIONS = 4096  # PostgreSQL's default scram_iterations


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def scram_verifier(role: str, password: str, iterations: int = ITERATIONS) -> str:
    salt = hmac.new(password.encode(), b"counselkit-scram-salt:" + role.encode(), hashlib.sha256).digest()[:16]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


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
