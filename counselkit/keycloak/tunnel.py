"""Reaching a host's Keycloak (HTTP on 127.0.0.1 there) from the control machine: an OpenSSH local forward.

No secret travels on a command line: the tunnel carries HTTP, the admin password stays inside this process.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import layout


class TunnelError(Exception):
    """The SSH tunnel to a host could not be opened."""


@dataclass(frozen=True)
class SshTarget:
    address: str
    port: int = 22
    user: str = "root"
    options: tuple[str, ...] = field(default=())  # extra ssh arguments, e.g. ("-i", key, "-o", "UserKnownHostsFile=...")

    def argv(self, local_port: int, remote_port: int) -> list[str]:
        return [
            "ssh", "-N", "-T",
            "-o", "BatchMode=yes",
            "-o", "ExitOnForwardFailure=yes",
            "-o", "ServerAliveInterval=15",
            "-o", "ConnectTimeout=10",
            "-p", str(self.port),
            *self.options,
            "-L", f"127.0.0.1:{local_port}:{layout.KEYCLOAK_HTTP_HOST}:{remote_port}",
            f"{self.user}@{self.address}",
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def ssh_tunnel(target: SshTarget, remote_port: int, timeout: float = 20) -> Iterator[int]:
    """Yield a local port forwarded to remote_port on the host's loopback; the ssh process ends on exit."""
    local_port = _free_port()
    process = subprocess.Popen(target.argv(local_port, remote_port), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while not _listening(local_port):
            if process.poll() is not None:
                detail = (process.stderr.read() if process.stderr else "").strip().splitlines()
                raise TunnelError(f"ssh to {target.user}@{target.address}:{target.port} failed: "
                                  f"{detail[-1] if detail else f'exit {process.returncode}'}")
            if time.monotonic() > deadline:
                raise TunnelError(f"ssh tunnel to {target.address} not ready after {timeout:.0f} s")
            time.sleep(0.2)
        yield local_port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
