"""`counselkit lab` commands: status, ssh, and clean errors (no tracebacks)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from counselkit.lab import LabState

LAB_CLI = [sys.executable, "-c", "from counselkit.lab.commands import lab; lab()"]


def lab_cli(*args: str, uid: int | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid is not None else []
    return subprocess.run([*prefix, *LAB_CLI, *args], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.mark.lab
@pytest.mark.usefixtures("lab_at_rest")  # every host "up": none in the middle of a molecule scenario's reset
def test_status_json_lists_hosts_proxy_and_s3(lab: LabState) -> None:
    result = lab_cli("status", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["up"] is True
    assert [h["name"] for h in info["hosts"]] == [h.name for h in lab.hosts]
    assert all(h["status"].startswith("up (") for h in info["hosts"]), info["hosts"]
    assert info["proxy"]["url"] == lab.proxy_url
    assert info["s3"]["endpoint"] == lab.s3.endpoint
    # The S3 credentials stay in the root-only state file: neither key appears in the status, nor does the field.
    assert lab.s3.access_key and lab.s3.secret_key
    for value in (lab.s3.access_key, lab.s3.secret_key):
        assert value not in result.stdout + result.stderr
    assert "secret" not in result.stdout


@pytest.mark.lab
@pytest.mark.usefixtures("lab_at_rest")  # no reset may change a host's process between the two readings
def test_lab_up_again_is_a_no_op(lab: LabState) -> None:
    from counselkit.lab import load_state

    # the processes as the state file has them now: a `lab reset` earlier in the session (the molecule suite) gave
    # its host a new container process, so the session's first state object is no reference
    before = [(p.role, p.pid) for p in load_state().processes]
    result = lab_cli("up", "--hosts", str(len(lab.hosts)))
    assert result.returncode == 0, result.stderr
    assert "already up" in result.stderr
    assert [(p.role, p.pid) for p in load_state().processes] == before


@pytest.mark.lab
def test_ssh_runs_a_command_on_a_host(lab: LabState) -> None:
    result = lab_cli("ssh", "node2", "--", "hostname", "&&", "id", "-un")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["node2", "root"]


@pytest.mark.lab
def test_ssh_to_an_unknown_host_is_a_clean_error(lab: LabState) -> None:
    result = lab_cli("ssh", "node99", "--", "true")
    assert result.returncode != 0
    assert "no lab host named 'node99'" in result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_clearly_when_not_root() -> None:
    result = lab_cli("up", uid=65534)  # nobody
    assert result.returncode != 0
    assert "needs root" in result.stderr
    assert "Traceback" not in result.stderr
