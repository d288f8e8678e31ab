"""The tenant role SQL both engines send (counselkit.pgscram.role_state_sql / role_sql) against a real
PostgreSQL 15 on this machine: created, left alone when as wanted, drift repaired — judged from PostgreSQL's own
sha256 and salt output, with the SQL on psql's stdin as the engines send it."""

from __future__ import annotations

import os
import secrets as random_source
import subprocess
from collections.abc import Iterator

import pytest

from counselkit.pgscram import role_sql, role_state_sql, scram_verifier

pytestmark = pytest.mark.slow

SECRET = "tenant-db-secret-" + "x" * 20


def psql_stdin(pg, sql: str) -> str:
    """psql -f - as the engines run it: the SQL (it holds a verifier or a password) never on the command line."""
    result = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                             "-d", "postgres", "-f", "-"], input=sql, capture_output=True, text=True,
                            env={**os.environ, **pg.env}, cwd="/")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def role(postgres) -> Iterator[str]:
    name = f"ck_roletest_{random_source.token_hex(4)}"
    yield name
    postgres.psql(f"DROP ROLE IF EXISTS {name}")


def converge(pg, role: str, password: str) -> str:
    """One engine run: read the state, send what role_sql says. Returns the SQL sent ('' when nothing)."""
    state = psql_stdin(pg, role_state_sql([role]) + ";\n").splitlines()
    sql = role_sql(role, password, state)
    if sql:
        psql_stdin(pg, sql)
    return sql


def stored(pg, role: str) -> str:
    return pg.psql(f"SELECT rolcanlogin::text || rolsuper::text || '|' || rolpassword FROM pg_authid WHERE rolname = '{role}'")


def test_a_new_role_gets_exactly_the_verifier_and_a_rerun_sends_nothing(postgres, role) -> None:
    assert converge(postgres, role, SECRET).startswith(f"CREATE ROLE {role} ")
    # PostgreSQL kept the verifier as given (a malformed one it would have hashed as a clear password)
    assert stored(postgres, role) == f"truefalse|{scram_verifier(role, SECRET)}"
    assert converge(postgres, role, SECRET) == ""


def test_the_same_secret_set_by_hand_is_no_drift(postgres, role) -> None:
    # PostgreSQL makes the verifier itself (random salt): the digest comparison must still see the current secret
    psql_stdin(postgres, f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}';\n")
    assert stored(postgres, role) != f"truefalse|{scram_verifier(role, SECRET)}"
    assert converge(postgres, role, SECRET) == ""


@pytest.mark.parametrize("drift", ["PASSWORD 'changed-by-hand-0123456789'", "PASSWORD NULL", "NOLOGIN", "SUPERUSER"])
def test_a_drifted_role_is_repaired(postgres, role, drift: str) -> None:
    converge(postgres, role, SECRET)
    postgres.psql(f"ALTER ROLE {role} {drift}")
    assert converge(postgres, role, SECRET).startswith(f"ALTER ROLE {role} ")
    assert stored(postgres, role) == f"truefalse|{scram_verifier(role, SECRET)}"
    assert converge(postgres, role, SECRET) == ""


def test_a_rotated_secret_is_set(postgres, role) -> None:
    converge(postgres, role, SECRET)
    assert converge(postgres, role, SECRET + "-rotated").startswith("ALTER ROLE")
    assert stored(postgres, role) == f"truefalse|{scram_verifier(role, SECRET + '-rotated')}"
