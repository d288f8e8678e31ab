"""Reaching a service on a host's loopback (Keycloak's HTTP, 127.0.0.1 there) from the control machine.

The hardened hosts refuse SSH port forwarding (`AllowTcpForwarding no` in sshd_config), so the tunnel is not an
OpenSSH `-L` forward: a local listener hands each connection to its own SSH session, which runs a small relay on
the host (python3, always there) that connects to the loopback port and copies bytes both ways. No secret travels
on a command line: the relay's argv is the port number; the HTTP (and the admin password in it) goes through the
session's standard input and output.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from .. import layout

# Runs on the host: connect to 127.0.0.1:<port>, stdin -> socket, socket -> stdout, until both sides are done.
RELAY = (
    "import socket, sys, threading\n"
    "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
    "def up():\n"
    "    while data := sys.stdin.buffer.read1(65536):\n"
    "        s.sendall(data)\n"
    "    s.shutdown(socket.SHUT_WR)\n"
    "threading.Thread(target=up, daemon=True).start()\n"
    "while data := s.recv(65536):\n"
    "    sys.stdout.buffer.write(data)\n"
    "    sys.stdout.buffer.flush()\n"
)


class TunnelError(Exception):
    """The SSH tunnel to a host could not be opened."""


@dataclass(frozen=True)
class SshTarget:
    address: str
    port: int = 22
    user: str = "root"
    options: tuple[str, ...] = field(default=())  # extra ssh arguments, e.g. ("-i", key, "-o", "UserKnownHostsFile=...")

    def argv(self, *remote: str) -> list[str]:
        """ssh to the host running `remote` (each word quoted for the remote shell)."""
        return [
            "ssh", "-T",
            "-o", "BatchMode=yes",
            "-o", "ServerAliveInterval=15",
            "-o", "ConnectTimeout=10",
            "-p", str(self.port),
            *self.options,
            "--", f"{self.user}@{self.address}",
            shlex.join(remote),
        ]

    def relay_argv(self, remote_port: int) -> list[str]:
        return self.argv("python3", "-c", RELAY, layout.KEYCLOAK_HTTP_HOST, str(remote_port))


def _pump(source: IO[bytes] | socket.socket, sink: IO[bytes] | socket.socket) -> None:
    """Copy until EOF; then signal the end to the sink (shut down a socket's writing side / close a pipe)."""
    try:
        while True:
            data = source.recv(65536) if isinstance(source, socket.socket) else source.read1(65536)  # type: ignore[union-attr]
            if not data:
                break
            if isinstance(sink, socket.socket):
                sink.sendall(data)
            else:
                sink.write(data)
                sink.flush()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            if isinstance(sink, socket.socket):
                sink.shutdown(socket.SHUT_WR)
            else:
                sink.close()


def _serve(connection: socket.socket, target: SshTarget, remote_port: int, sessions: list[subprocess.Popen]) -> None:
    process = subprocess.Popen(target.relay_argv(remote_port), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    sessions.append(process)
    assert process.stdin is not None and process.stdout is not None
    upstream = threading.Thread(target=_pump, args=(connection, process.stdin), daemon=True)
    upstream.start()
    _pump(process.stdout, connection)
    upstream.join(timeout=5)
    connection.close()
    process.wait()


def _check_reachable(target: SshTarget, remote_port: int, timeout: float) -> None:
    probe = ("import socket, sys\n"
             "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n")
    try:
        result = subprocess.run(target.argv("python3", "-c", probe, layout.KEYCLOAK_HTTP_HOST, str(remote_port)),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TunnelError(f"ssh to {target.user}@{target.address}:{target.port}: no answer within {timeout:.0f} s") from None
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()
        raise TunnelError(f"ssh to {target.user}@{target.address}:{target.port} failed, or nothing listens on "
                          f"{layout.KEYCLOAK_HTTP_HOST}:{remote_port} there: {detail[-1] if detail else f'exit {result.returncode}'}")


@contextlib.contextmanager
def ssh_tunnel(target: SshTarget, remote_port: int, timeout: float = 20) -> Iterator[int]:
    """Yield a local port (127.0.0.1) whose connections reach remote_port on the host's loopback; every SSH session
    ends on exit. TunnelError when the host cannot be reached or nothing listens there."""
    _check_reachable(target, remote_port, timeout)
    sessions: list[subprocess.Popen] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve, args=(connection, target, remote_port, sessions), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for process in list(sessions):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
