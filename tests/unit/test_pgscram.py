"""SCRAM verifiers made on the control machine: PostgreSQL's format, stable per role and password, checkable."""

from __future__ import annotations

import base64

from counselkit.pgscram import scram_verifier, verifier_matches


def test_verifier_has_postgres_format() -> None:
    verifier = scram_verifier("synapse_awo_kiel", "s3cret")
    scheme, rest = verifier.split("$", 1)
    params, keys = rest.split("$", 1)
    iterations, salt = params.split(":")
    stored, server = keys.split(":")
    assert scheme == "SCRAM-SHA-256" and iterations == "4096"
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(stored)) == len(base64.b64decode(server)) == 32


def test_stable_for_same_input_and_distinct_otherwise() -> None:
    assert scram_verifier("r", "pw") == scram_verifier("r", "pw")
    assert scram_verifier("r", "pw") != scram_verifier("other", "pw")
    assert scram_verifier("r", "pw") != scram_verifier("r", "pw2")


def test_matches_own_password_only() -> None:
    stored = scram_verifier("r", "pw")
    assert verifier_matches(stored, "pw")
    assert not verifier_matches(stored, "pw2")
    assert not verifier_matches("md5abcdef", "pw")
    assert not verifier_matches("", "pw")


def test_matches_a_verifier_with_another_salt() -> None:
    # PostgreSQL's own verifier for password 'pencil' would carry a random salt; same derivation, other salt.
    import hashlib
    import hmac

    salt = b"0123456789abcdef"
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    stored = base64.b64encode(hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()).decode()
    server = base64.b64encode(hmac.new(salted, b"Server Key", hashlib.sha256).digest()).decode()
    verifier = f"SCRAM-SHA-256$4096:{base64.b64encode(salt).decode()}${stored}:{server}"
    assert verifier_matches(verifier, "pencil") and not verifier_matches(verifier, "pen")
