"""Running the host-side backup script over SSH: plain ssh to the plan's hosts, or the lab's SSH setup."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from typing import Any, Protocol

from ..plan import Plan
from ..site import SiteOverrides
from ..site import lab_site as site_of_lab


class RemoteError(Exception):
    """A host could not be reached or refused the command."""


class Remote(Protocol):
    def run(self, host: str, argv: list[str], timeout: float = 3600, stream: bool = False) -> subprocess.CompletedProcess[str]: ...


def _command_line(argv: list[str], user: str) -> str:
    line = shlex.join(argv)
    return line if user == "root" else f"sudo -n {line}"


@dataclass
class SshRemote:
    """ssh user@address -p port with batch mode and strict host keys (your ~/.ssh/config and known_hosts)."""

    plan: Plan

    def argv(self, host: str, argv: list[str]) -> list[str]:
        h = self.plan.host(host)
        return ["ssh", "-p", str(h.ssh_port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=10", f"{h.ssh_user}@{h.address}", "--", _command_line(argv, h.ssh_user)]

    def run(self, host: str, argv: list[str], timeout: float = 3600, stream: bool = False) -> subprocess.CompletedProcess[str]:
        return _run(self.argv(host, argv), timeout, stream)


@dataclass
class LabRemote:
    """The lab's hosts with the lab key and known_hosts (counselkit.lab.ssh)."""

    state: Any  # LabState

    def argv(self, host: str, argv: list[str]) -> list[str]:
        from ..lab import ssh

        lab_host = self.state.host(host)
        return ssh.ssh_argv(lab_host, [_command_line(argv, lab_host.ssh_user)])

    def run(self, host: str, argv: list[str], timeout: float = 3600, stream: bool = False) -> subprocess.CompletedProcess[str]:
        return _run(self.argv(host, argv), timeout, stream)


def _run(argv: list[str], timeout: float, stream: bool) -> subprocess.CompletedProcess[str]:
    try:
        if stream:  # output goes straight to the operator's terminal
            result = subprocess.run(argv, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            return subprocess.CompletedProcess(argv, result.returncode, "", "")
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RemoteError(f"`{argv[-1]}` did not finish within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise RemoteError("ssh is not installed on this machine") from None


def lab_site() -> tuple[SiteOverrides, Any]:
    """Site overrides and state of the running lab (host addresses, proxy, S3 endpoint)."""
    from ..lab import load_state

    state = load_state()
    if state is None or state.phase != "up":
        raise RemoteError("the lab is not up (counselkit lab up)")
    site = site_of_lab(state)
    return site, state
