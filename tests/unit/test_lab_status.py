"""Lab health: a host whose sshd refuses root (a deploy as an admin switched root login off) is up, not unreachable."""

from __future__ import annotations

import subprocess

import pytest

from counselkit.lab import status
from counselkit.lab.state import LabHost


@pytest.mark.parametrize(("rc", "stdout", "stderr", "expected"), [
    (0, "running\n", "", "up (running)"),
    (255, "", "root@10.248.6.2: Permission denied (publickey).\n", "up (root login refused)"),
    (255, "", "ssh: connect to host 10.248.6.2 port 22: Connection refused\n", "unreachable"),
])
def test_host_status(monkeypatch, rc, stdout, stderr, expected):
    host = LabHost(name="node6", address="10.248.6.2", control_address="10.248.6.1", ssh_key_path="/k",
                   known_hosts_path="/kh", netns="n6", veth="v6", root_path="/r")
    monkeypatch.setattr(status, "is_running", lambda process: True)
    monkeypatch.setattr(status.ssh, "run", lambda h, command, timeout: subprocess.CompletedProcess([], rc, stdout, stderr))

    class State:
        def process(self, role):
            return object()

    assert status.host_status(State(), host) == expected
