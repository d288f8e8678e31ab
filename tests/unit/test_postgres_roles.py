"""Tenant database roles, the same in both engines (issue 14.4): the SCRAM verifier is made on the control
machine, a drifted role is repaired, and neither the password nor the verifier is put on a command line."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
import yaml
from pyinfra.api import FileUploadCommand

from counselkit.pgscram import role_sql, role_state_sql, scram_verifier, verifier_keys, verifier_matches
from deploy import postgres
from tests.unit.test_deploy_commands import FakeHost

REPO = Path(__file__).resolve().parents[2]
ROLE, PASSWORD = "synapse_awo_kiel", "correct horse battery staple"


def pg_state(rolpassword: str, flags: str = "t|f|f|f", role: str = ROLE) -> list[str]:
    """What psql -At prints for role_state_sql, computed the way PostgreSQL would."""
    params = rolpassword.split("$")[1] if rolpassword.count("$") >= 2 else ""
    return [f"{role}|{flags}|{params}|{hashlib.sha256(rolpassword.encode()).hexdigest()}"]


def postgres_made_verifier(password: str, salt: bytes) -> str:
    """A verifier as PostgreSQL makes it (random salt), for `ALTER ROLE ... PASSWORD 'clear'` set by hand."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 4096)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    return f"SCRAM-SHA-256$4096:{b64(salt)}${b64(stored)}:{b64(server)}"


def test_a_missing_role_is_created_with_the_verifier_only() -> None:
    sql = role_sql(ROLE, PASSWORD, [])
    assert sql == f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{scram_verifier(ROLE, PASSWORD)}';\n"
    assert PASSWORD not in sql


def test_a_role_as_wanted_needs_nothing() -> None:
    assert role_sql(ROLE, PASSWORD, pg_state(scram_verifier(ROLE, PASSWORD))) == ""
    # set by hand with the same secret (PostgreSQL's random salt): still the current secret, nothing to do
    assert role_sql(ROLE, PASSWORD, pg_state(postgres_made_verifier(PASSWORD, b"0123456789abcdef"))) == ""


@pytest.mark.parametrize("state", [
    pg_state(scram_verifier(ROLE, "an older secret")),                    # the secret was rotated
    pg_state(postgres_made_verifier("set by hand", b"0123456789abcdef")),  # somebody changed it on the host
    pg_state(""),                                                          # no password at all
    pg_state("md5" + "0" * 32),                                            # an md5 hash, not SCRAM
    pg_state(scram_verifier(ROLE, PASSWORD), flags="t|t|f|f"),             # made a superuser
    pg_state(scram_verifier(ROLE, PASSWORD), flags="f|f|f|f"),             # may no longer log in
], ids=["rotated", "changed-by-hand", "no-password", "md5", "superuser", "nologin"])
def test_a_drifted_role_is_altered(state: list[str]) -> None:
    sql = role_sql(ROLE, PASSWORD, state)
    assert sql == f"ALTER ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{scram_verifier(ROLE, PASSWORD)}';\n"


def test_another_roles_state_does_not_count() -> None:
    assert role_sql(ROLE, PASSWORD, pg_state(scram_verifier("other", PASSWORD), role="other")).startswith("CREATE ROLE")


def test_the_state_query_never_returns_the_verifier() -> None:
    sql = role_state_sql([ROLE, "other"])
    assert sql.count("rolpassword") == 2  # only inside these two wrappers, never as a column of its own
    assert "split_part(coalesce(rolpassword, ''), '$', 2)" in sql
    assert "sha256(convert_to(coalesce(rolpassword, ''), 'UTF8'))" in sql
    assert "IN ('synapse_awo_kiel', 'other')" in sql


@pytest.mark.parametrize("role", ["x'; DROP ROLE postgres; --", "Upper", "a b", ""])
def test_only_counselkit_role_names_reach_sql(role: str) -> None:
    with pytest.raises(ValueError):
        role_sql(role, PASSWORD, [])
    with pytest.raises(ValueError):
        role_state_sql([role])


def test_verifier_keys_are_the_verifiers_own() -> None:
    verifier = scram_verifier(ROLE, PASSWORD)
    stored, server = verifier_keys(ROLE, PASSWORD)
    assert verifier.endswith(f"${stored}:{server}") and verifier_matches(verifier, PASSWORD)


def run_tenant_role(monkeypatch, state: str) -> tuple[FakeHost, list]:
    fake = FakeHost({"Command": state})
    monkeypatch.setattr(postgres, "host", fake)
    return fake, list(postgres.tenant_role._inner(role=ROLE, password=PASSWORD))


def test_pyinfra_sends_the_sql_as_a_file_never_on_a_command_line(monkeypatch) -> None:
    _, commands = run_tenant_role(monkeypatch, "")
    uploads = [c for c in commands if isinstance(c, FileUploadCommand)]
    assert len(uploads) == 1 and uploads[0].src.getvalue().decode() == role_sql(ROLE, PASSWORD, [])
    verifier = scram_verifier(ROLE, PASSWORD)
    for command in commands:
        text = command if isinstance(command, str) else repr(command)
        assert PASSWORD not in text and verifier not in text and "PASSWORD" not in text, text
    directory = posix_dir(uploads[0].dest)
    assert commands[0] == f"mkdir -m 700 {directory}"  # root-only before the SQL arrives
    assert commands[-1].endswith(f"< {uploads[0].dest}; status=$?; rm -rf {directory}; exit $status")


def posix_dir(path: str) -> str:
    return path.rsplit("/", 1)[0]


def test_pyinfra_repairs_drift_and_leaves_a_good_role_alone(monkeypatch) -> None:
    fake, commands = run_tenant_role(monkeypatch, "\n".join(pg_state(scram_verifier(ROLE, PASSWORD))))
    assert commands == [] and fake.noops == [f"role {ROLE} is as wanted"]
    _, commands = run_tenant_role(monkeypatch, "\n".join(pg_state(scram_verifier(ROLE, "an older secret"))))
    [upload] = [c for c in commands if isinstance(c, FileUploadCommand)]
    assert upload.src.getvalue().decode().startswith(f"ALTER ROLE {ROLE} ")


def role_task(name_start: str) -> dict:
    tasks = yaml.safe_load((REPO / "roles/postgresql/tasks/main.yml").read_text())
    [task] = [t for t in tasks if t["name"].startswith(name_start)]
    return task


def test_ansible_makes_the_same_sql_from_the_same_state() -> None:
    from inventories.ansible.plugins.filter.counselkit import FilterModule

    filters = FilterModule().filters()
    assert filters["counselkit_pg_role_state_sql"]([ROLE]) == role_state_sql([ROLE])
    for state in ([], pg_state(scram_verifier(ROLE, PASSWORD)), pg_state(scram_verifier(ROLE, "old"))):
        assert filters["counselkit_pg_role_sql"](ROLE, PASSWORD, state) == role_sql(ROLE, PASSWORD, state)


def test_ansible_role_task_uses_the_shared_sql_on_stdin_without_logging_it() -> None:
    state = role_task("Tenant role state")
    assert "counselkit_pg_role_state_sql" in state["ansible.builtin.command"]["argv"]
    assert state["register"] == "postgresql_roles"
    roles = role_task("Tenant database roles")
    command = roles["ansible.builtin.command"]
    assert command["argv"] == "{{ postgresql_psql + ['-f', '-'] }}" and command["stdin"] == "{{ postgresql_role_sql }}"
    wanted = "counselkit_pg_role_sql(item.secret_values.synapse_db_password, postgresql_roles.stdout_lines)"
    assert wanted in roles["vars"]["postgresql_role_sql"]
    assert roles["no_log"] is True and roles["when"] == "postgresql_role_sql | length > 0"
