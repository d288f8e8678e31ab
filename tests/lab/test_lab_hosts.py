"""Lab hosts are real, distinct Debian 12 systems reachable over SSH and pyinfra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from counselkit.lab import LabState

# every test here looks at every lab host: none may be in the middle of a molecule scenario's reset
pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_at_rest")]


def test_host_answers_ssh_as_booted_debian_12(lab_host, run_on) -> None:
    out = run_on(lab_host, "hostname; . /etc/os-release; echo $VERSION_CODENAME; "
                           "systemctl is-system-running; ps -p 1 -o comm=")
    hostname, codename, system_state, pid1 = out.split()
    assert hostname == lab_host.name
    assert codename == "bookworm"
    assert system_state in ("running", "degraded")
    assert pid1 == "systemd"


def test_hosts_have_their_own_identity(lab: LabState, run_on) -> None:
    keys = {h.name: run_on(h, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1] for h in lab.hosts}
    machine_ids = {h.name: run_on(h, "cat /etc/machine-id").strip() for h in lab.hosts}
    assert len(set(keys.values())) == len(lab.hosts), keys
    assert len(set(machine_ids.values())) == len(lab.hosts), machine_ids


def test_host_addresses_follow_the_scheme(lab: LabState, run_on) -> None:
    for index, host in enumerate(lab.hosts, start=1):
        assert host.address == f"10.248.{index}.2"
        assert host.control_address == f"10.248.{index}.1"
        assert f"inet {host.address}/24" in run_on(host, "ip -4 -o addr show dev host0")


def _write_inventory(lab: LabState, path: Path) -> Path:
    entries = [
        (h.name, {
            "ssh_hostname": h.address,
            "ssh_port": h.ssh_port,
            "ssh_user": h.ssh_user,
            "ssh_key": str(h.ssh_key_path),
            "ssh_known_hosts_file": str(h.known_hosts_path),
            "ssh_strict_host_key_checking": "yes",
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
        })
        for h in lab.hosts
    ]
    path.write_text(f"hosts = {entries!r}\n")
    return path


def test_pyinfra_runs_commands_on_all_hosts(lab: LabState, tmp_path: Path) -> None:
    inventory = _write_inventory(lab, tmp_path / "lab_inventory.py")
    pyinfra = Path(sys.executable).parent / "pyinfra"
    result = subprocess.run(
        [str(pyinfra), "--yes", str(inventory), "exec", "--", "uname", "-a"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for host in lab.hosts:
        assert f"Linux {host.name} " in output, output
