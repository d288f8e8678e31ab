"""What a check sees: the guarded testinfra host, the planned host, and cached facts."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from counselkit.plan import HostPlan, Plan, TenantPlan

from .guard import Transcript, psql_command

Status = Literal["pass", "fail", "na", "error"]


@dataclass
class Finding:
    """One check's verdict: what was expected, what was found; ``reason`` says why n/a or error."""

    status: Status
    expected: str
    found: str
    reason: str = ""


def passed(expected: str, found: str) -> Finding:
    return Finding("pass", expected, found)


def failed(expected: str, found: str) -> Finding:
    return Finding("fail", expected, found)


def verdict(problems: list[str], expected: str, ok_found: str) -> Finding:
    """pass when there are no problems, else fail listing them."""
    if problems:
        return failed(expected, "\n".join(problems))
    return passed(expected, ok_found)


@dataclass
class Target:
    """A host to audit: its plan entry plus how to reach it."""

    name: str
    hostspec: str  # testinfra host spec: "local://" or "ssh://user@address:port"
    address: str  # where the network probes (TLS, HTTP) connect
    plan_host: HostPlan
    ssh_config: Path | None = None
    ssh_identity_file: Path | None = None
    ca_file: Path | None = None  # trust anchor for the TLS checks (tls: internal)
    ssh_extra_args: str | None = None
    sudo: bool = False  # logs in as an admin (platform.hosts[].ssh_user): the read-only commands run through sudo


@dataclass
class CheckContext:
    host: Any  # testinfra.host.Host whose backend is wrapped by the read-only guard
    target: Target
    plan: Plan
    transcript: Transcript
    secrets: Any = None  # counselkit.secrets.SecretStore, when the operator gave one
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def plan_host(self) -> HostPlan:
        return self.target.plan_host

    @property
    def tenants(self) -> list[TenantPlan]:
        return self.target.plan_host.tenants

    def run(self, *argv: str) -> Any:
        """Run argv (quoted here) on the host through the guard; returns testinfra's CommandResult."""
        return self.host.run(shlex.join(argv))

    def out(self, *argv: str) -> str:
        result = self.run(*argv)
        return result.stdout if result.rc == 0 else ""

    @cached_property
    def container(self) -> str | None:
        """The container technology the host runs in (systemd-nspawn, docker, lxc ...), or None."""
        result = self.run("systemd-detect-virt", "--container")
        value = result.stdout.strip()
        if result.rc == 0 and value and value != "none":
            return value
        if result.rc != 0 and not value:
            # systemd-detect-virt missing: fall back to the marker files systemd and docker leave.
            if self.run("test", "-e", "/run/.containerenv").rc == 0 or self.run("test", "-e", "/.dockerenv").rc == 0:
                return "container"
        return None

    @cached_property
    def sshd(self) -> dict[str, str] | None:
        result = self.run("sshd", "-T")
        if result.rc != 0:
            return None
        config: dict[str, str] = {}
        for line in result.stdout.splitlines():
            key, _, value = line.partition(" ")
            config.setdefault(key.lower(), value.strip())
        return config

    def psql(self, sql: str, database: str = "postgres") -> tuple[bool, list[list[str]], str]:
        """(ok, rows, error) of a read-only query as the postgres superuser."""
        result = self.run(*psql_command(sql, database))
        if result.rc != 0:
            return False, [], (result.stderr or result.stdout).strip()[:500]
        rows = [line.split("|") for line in result.stdout.splitlines() if line.strip()]
        return True, rows, ""

    @cached_property
    def listeners(self) -> list[tuple[str, str, int, str]] | None:
        """(proto, address, port, process) of every listening TCP/UDP socket, or None without `ss`."""
        rows: list[tuple[str, str, int, str]] = []
        for proto, flag in (("tcp", "-tlnpH"), ("udp", "-ulnpH")):
            result = self.run("ss", flag)
            if result.rc != 0:
                return None
            for line in result.stdout.splitlines():
                parts = line.split()
                if len(parts) < 4:
                    continue
                local = parts[3]
                address, _, port = local.rpartition(":")
                if not port.isdigit():
                    continue
                process = " ".join(parts[5:]) if len(parts) > 5 else ""
                rows.append((proto, address.strip("[]").split("%")[0], int(port), process))
        return rows


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in {"::1", "localhost"}
