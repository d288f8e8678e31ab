"""Throwaway servers on loopback for backup tests: moto (S3) and a private PostgreSQL cluster."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start (status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


@contextmanager
def moto_server() -> Iterator[str]:
    """An in-memory S3 server (moto server mode) on 127.0.0.1; yields its endpoint URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        _wait_port(port, proc, "moto server")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def postgres_missing() -> str | None:
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL 15 server binaries missing (apt-get install postgresql-15)"
    if os.geteuid() != 0:
        return "needs root (runs pg_dump as the postgres user through runuser, like the hosts do)"
    if shutil.which("runuser") is None:
        return "runuser missing (util-linux)"
    return None


@dataclass
class Postgres:
    socket_dir: str
    port: int

    @property
    def env(self) -> dict[str, str]:
        return {"PGHOST": self.socket_dir, "PGPORT": str(self.port)}

    def psql(self, sql: str, db: str = "postgres") -> str:
        result = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-XtA", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                                capture_output=True, text=True, env={**os.environ, **self.env}, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout.strip()


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """A private cluster owned by postgres in /tmp, listening only on a socket directory."""
    base = Path(tempfile.mkdtemp(prefix="ck-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    shutil.chown(base, "postgres", "postgres")
    data, sockets = base / "data", base / "run"
    sockets.mkdir()
    shutil.chown(sockets, "postgres", "postgres")
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "--auth=trust", "-E", "UTF8", "--locale=C"],
                   check=True, capture_output=True, cwd="/")
    subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                    f"-k {sockets} -p {port} -c listen_addresses=''", "start"], check=True, capture_output=True, cwd="/")
    try:
        yield Postgres(str(sockets), port)
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True, cwd="/")
        shutil.rmtree(base, ignore_errors=True)
