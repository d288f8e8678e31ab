"""Backups: jobs from the plan, rendered host files, retention flags, staleness with fixed clocks, restore guards."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from counselkit import layout
from counselkit.backup import status as st
from counselkit.backup.jobs import all_jobs, find_job, host_jobs, retention_flags
from counselkit.backup.render import Credentials, host_files, host_secrets
from counselkit.backup.restore import RestoreError, restore
from counselkit.model.platform import Retention
from counselkit.plan import load_plan
from tests.support import EXAMPLE, KEYCLOAK_PIN, example_data, write_yaml

CREDS = Credentials("AKIAEXAMPLE", "se$cret 'with' \"quotes\"/+=")


class FakeStore:
    def get(self, ref: str) -> str:
        if ref.endswith("backup_s3_access_key"):
            return CREDS.access_key
        if ref.endswith("backup_s3_secret_key"):
            return CREDS.secret_key
        return f"pw-for-{ref}"


def with_keycloak(data: dict) -> dict:
    """The platform job backs up Keycloak's database, so it exists only where Keycloak is configured."""
    data["platform"]["artifacts"] = {"keycloak": dict(KEYCLOAK_PIN)}
    return data


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    return load_plan(write_yaml(tmp_path_factory.mktemp("backup") / "tenants.yaml", with_keycloak(example_data())))


def test_no_platform_job_without_keycloak() -> None:
    assert [j.label for j in all_jobs(load_plan(EXAMPLE))] == ["awo-kiel", "diakonie-luebeck", "skf-husum"]


@pytest.fixture(scope="module")
def files(plan):
    credentials, passwords = host_secrets(plan, "node1", FakeStore())
    return {f.path: f for f in host_files(plan, "node1", credentials, passwords)}


def test_one_job_per_tenant_and_one_platform_job_per_host(plan) -> None:
    labels = [j.label for j in all_jobs(plan)]
    assert labels == ["awo-kiel", "diakonie-luebeck", "skf-husum", "_platform/node1"]
    awo = find_job(plan, "awo-kiel")
    assert awo.repository == "s3:https://s3.example.org/nordlicht-beratung-backups/awo-kiel"
    assert awo.databases == ("synapse_awo_kiel",)
    assert awo.paths == (plan.tenant("awo-kiel").media_dir, plan.tenant("awo-kiel").signing_key_path)
    assert awo.password_ref == "tenants.awo-kiel.restic_password"
    keycloak = find_job(plan, "_platform/node1")
    assert keycloak.databases == (layout.KEYCLOAK_DB,)
    assert keycloak.repository.endswith("/nordlicht-beratung-backups/_platform/node1")
    # every tenant has its own password reference
    assert len({j.password_ref for j in all_jobs(plan) if j.kind == "tenant"}) == 3
    with pytest.raises(LookupError, match="known: awo-kiel"):
        find_job(plan, "nope")


@pytest.mark.parametrize(("retention", "flags"), [
    (Retention(daily=7, weekly=4, monthly=12), ["--keep-daily=7", "--keep-weekly=4", "--keep-monthly=12"]),
    (Retention(daily=14, weekly=0, monthly=0), ["--keep-daily=14"]),
    (Retention(daily=1, weekly=0, monthly=6), ["--keep-daily=1", "--keep-monthly=6"]),
])
def test_retention_flags(retention, flags) -> None:
    assert retention_flags(retention) == flags


def test_script_is_valid_bash(files) -> None:
    script = files[layout.BACKUP_SCRIPT]
    assert script.mode == "0750" and not script.secret
    if shutil.which("bash") is None:
        pytest.skip("bash missing")
    result = subprocess.run(["bash", "-n"], input=script.content, text=True, capture_output=True)
    assert result.returncode == 0, result.stderr


def test_units_carry_the_schedule(plan, files) -> None:
    timer = files[f"/etc/systemd/system/{layout.BACKUP_TIMER_TEMPLATE}"].content
    service = files[f"/etc/systemd/system/{layout.BACKUP_SERVICE_TEMPLATE}"].content
    assert f"OnCalendar={plan.platform.backup.schedule}" in timer and "Persistent=true" in timer
    assert f"ExecStart={layout.BACKUP_SCRIPT} run %i" in service and "Type=oneshot" in service


def test_schedule_is_configurable(tmp_path: Path) -> None:
    data = example_data()
    data["platform"]["backup"]["schedule"] = "*-*-* 00/6:00:00"
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    credentials, passwords = host_secrets(plan, "node1", FakeStore())
    timer = {f.path: f for f in host_files(plan, "node1", credentials, passwords)}[f"/etc/systemd/system/{layout.BACKUP_TIMER_TEMPLATE}"]
    assert "OnCalendar=*-*-* 00/6:00:00" in timer.content


def test_job_files_are_root_only_and_shell_safe(files) -> None:
    names = layout.backup_job_names("awo-kiel")
    env, password, conf = files[names["env_file"]], files[names["password_file"]], files[names["job_file"]]
    assert {env.mode, password.mode, conf.mode} == {"0600"}
    assert env.secret and password.secret and not conf.secret
    assert password.content == "pw-for-tenants.awo-kiel.restic_password\n"
    assert f"RESTIC_PASSWORD_FILE={names['password_file']}" in env.content
    assert "RESTIC_PASSWORD=" not in env.content  # the password itself lives in its own file only
    # the env file is sourced by bash: every value must come back exactly, quotes and all
    result = subprocess.run(["bash", "-c", 'set -a; . /dev/stdin; printf %s "$AWS_SECRET_ACCESS_KEY"'],
                            input=env.content, text=True, capture_output=True)
    assert result.stdout == CREDS.secret_key
    assert "KEEP_FLAGS='--keep-daily=7 --keep-weekly=4 --keep-monthly=12'" in conf.content
    assert "UNIT=matrix-synapse@awo-kiel.service" in conf.content
    # credentials appear in the env file only, never in the script, units or job config
    for f in files.values():
        if not f.secret:
            assert CREDS.secret_key not in f.content and "pw-for-" not in f.content, f.path


def test_proxy_reaches_restic_environment(tmp_path: Path) -> None:
    data = example_data()
    data["platform"]["proxy"] = "http://proxy.example.org:3128"
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    credentials, passwords = host_secrets(plan, "node1", FakeStore())
    env = {f.path: f for f in host_files(plan, "node1", credentials, passwords)}[layout.backup_job_names("awo-kiel")["env_file"]]
    assert "HTTPS_PROXY=http://proxy.example.org:3128" in env.content
    assert "HTTP_PROXY=http://proxy.example.org:3128" in env.content
    assert "NO_PROXY=localhost,127.0.0.1,::1" in env.content


def test_platform_job_has_no_files_and_no_unit(files) -> None:
    conf = files[layout.backup_job_names(layout.BACKUP_PLATFORM_JOB)["job_file"]].content
    assert "DATABASES=keycloak" in conf and "BACKUP_PATHS=''" in conf and "UNIT=''" in conf


# --- staleness with fixed clocks -------------------------------------------------------

NOW = datetime(2026, 5, 4, 6, 0, tzinfo=timezone.utc)
MAX_AGE = timedelta(hours=26)


def snap(hours_ago: float) -> st.Snapshot:
    return st.Snapshot("ab" * 32, NOW - timedelta(hours=hours_ago), "node1", [])


@pytest.mark.parametrize(("snapshot", "state"), [
    (snap(3.5), st.FRESH),
    (snap(26), st.FRESH),  # exactly at the limit is still fresh
    (snap(26.01), st.STALE),
    (snap(24 * 9), st.STALE),
    (None, st.MISSING),
])
def test_classify(snapshot, state) -> None:
    assert st.classify(snapshot, NOW, MAX_AGE) == state


def _status(state: str) -> st.RepoStatus:
    return st.RepoStatus("t", "node1", None, 0, None, state)


@pytest.mark.parametrize(("states", "code"), [
    ([st.FRESH, st.FRESH], 0),
    ([st.FRESH, st.STALE], 1),
    ([st.MISSING], 1),
    ([st.STALE, st.UNKNOWN], 2),
    ([], 0),
])
def test_exit_code(states, code) -> None:
    assert st.exit_code([_status(s) for s in states]) == code


def test_parse_restic_time_with_nanoseconds() -> None:
    parsed = st.parse_time("2026-05-04T02:31:07.123456789+02:00")
    assert parsed == datetime(2026, 5, 4, 0, 31, 7, 123456, tzinfo=timezone.utc)
    assert st.parse_time("2026-05-04T02:31:07Z").tzinfo is not None


def test_human_figures() -> None:
    assert st.human_age(timedelta(hours=3, minutes=5)) == "3 h 05 min"
    assert st.human_age(timedelta(days=3, hours=2)) == "3 d 2 h"
    assert st.human_bytes(1536) == "1.5 KiB" and st.human_bytes(12) == "12 B"


def test_status_command_exit_codes(monkeypatch, tmp_path: Path) -> None:
    from counselkit.backup import commands

    plan = load_plan(EXAMPLE)
    monkeypatch.setattr(commands, "_context", lambda tenants_file, lab: (plan, FakeStore(), None))
    for state, code in ((st.FRESH, 0), (st.STALE, 1), (st.UNKNOWN, 2)):
        fixed = [st.RepoStatus(s, "node1", snap(2 if state == st.FRESH else 40), 3, 123456, state) for s in ("awo-kiel", "skf-husum")]
        monkeypatch.setattr(st, "collect", lambda plan, store, now=None, _f=fixed: _f)
        result = CliRunner().invoke(commands.backup, ["status", "--at", "2026-05-04T06:00:00Z"])
        assert result.exit_code == code, result.output
        assert "awo-kiel" in result.output and "123456" in result.output
        assert state.upper() in result.output


def test_status_without_credentials_is_exit_2(monkeypatch) -> None:
    from counselkit.backup import commands
    from counselkit.secrets import SecretsError

    class Empty:
        def get(self, ref):
            raise SecretsError(f"secret '{ref}' is missing")

    monkeypatch.setattr(commands, "_context", lambda tenants_file, lab: (load_plan(EXAMPLE), Empty(), None))
    result = CliRunner().invoke(commands.backup, ["status"])
    assert result.exit_code == 2
    assert "backup_s3_access_key" in result.output and "Traceback" not in result.output


# --- restore guards --------------------------------------------------------------------

class RecordingRemote:
    def __init__(self, deployed: bool = True, code: int = 0) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.deployed, self.code = deployed, code

    def run(self, host, argv, timeout=3600, stream=False):
        self.calls.append((host, argv))
        if argv[0] == "test":
            return subprocess.CompletedProcess(argv, 0 if self.deployed else 1, "", "")
        return subprocess.CompletedProcess(argv, self.code, "", "restic: boom" if self.code else "")


def test_restore_runs_only_the_tenants_job(plan) -> None:
    remote = RecordingRemote()
    result = restore(plan, "awo-kiel", remote, snapshot="1a2b3c4d")
    assert result.host == "node1"
    assert remote.calls[-1] == ("node1", [layout.BACKUP_SCRIPT, "restore", "awo-kiel", "1a2b3c4d"])
    assert all("diakonie" not in " ".join(argv) for _, argv in remote.calls)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"snapshot": "latest; rm -rf /"}, "not a snapshot id"),
    ({"to_host": "node9"}, "no host 'node9'"),
])
def test_restore_rejects_bad_input(plan, kwargs, message) -> None:
    with pytest.raises(RestoreError, match=message):
        restore(plan, "awo-kiel", RecordingRemote(), **kwargs)
    with pytest.raises(RestoreError, match="no tenant or platform repository 'nope'"):
        restore(plan, "nope", RecordingRemote())


def test_restore_needs_the_tenant_deployed(plan) -> None:
    with pytest.raises(RestoreError, match="not deployed on node1"):
        restore(plan, "awo-kiel", RecordingRemote(deployed=False))


def test_restore_failure_is_reported(plan) -> None:
    with pytest.raises(RestoreError, match=r"failed \(exit 6\): restic: boom"):
        restore(plan, "awo-kiel", RecordingRemote(code=6), stream=False)


def test_restore_that_changed_nothing_says_so(plan) -> None:
    with pytest.raises(RestoreError, match=r"failed \(exit 5\): the snapshot did not restore \(restic: boom\); the live "
                                           r"database, files and running service of awo-kiel are untouched"):
        restore(plan, "awo-kiel", RecordingRemote(code=5), stream=False)


def test_restore_command_error_is_a_message(monkeypatch) -> None:
    from counselkit.backup import commands

    monkeypatch.setattr(commands, "_context", lambda tenants_file, lab: (load_plan(EXAMPLE), FakeStore(), RecordingRemote(deployed=False)))
    result = CliRunner().invoke(commands.backup, ["restore", "awo-kiel"])
    assert result.exit_code == 1 and "not deployed" in result.output and "Traceback" not in result.output


def test_host_jobs_only_for_that_host(tmp_path: Path) -> None:
    data = with_keycloak(example_data())
    data["platform"]["hosts"].append({"name": "node2", "address": "203.0.113.11"})
    for entry, host in zip(data["tenants"], ("node1", "node1", "node2")):
        entry["host"] = host
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    assert [j.label for j in host_jobs(plan, "node2")] == ["skf-husum", "_platform/node2"]
