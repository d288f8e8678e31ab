"""Start long-running lab processes detached, and stop them by recorded PID.

A PID alone can be reused by an unrelated process after ours exits, so each
record also keeps the process start time from /proc/<pid>/stat; we only ever
signal a PID whose start time still matches. Nothing here matches by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel


class LabProcess(BaseModel):
    """A process the lab started: what it is, its PID and its start time."""

    role: str  # e.g. "host:node1", "proxy", "s3"
    pid: int
    start_time: int  # field 22 of /proc/<pid>/stat, clock ticks since boot
    log_path: str


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces; it is wrapped in parens.
    return raw[raw.rindex(")") + 2:].split()


def start_time_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_running(proc: LabProcess) -> bool:
    """True if our process is still there and not a zombie."""
    fields = _stat_fields(proc.pid)
    if fields is None or int(fields[19]) != proc.start_time:
        return False
    return fields[0] != "Z"


def spawn(role: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> LabProcess:
    """Start ``argv`` in a new session (so it outlives the CLI), output to ``log_path``.

    The log starts empty on every start, so it shows this run only.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log, open(os.devnull, "rb") as devnull:
        child = subprocess.Popen(
            argv,
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    start = start_time_of(child.pid)
    if start is None:
        raise OSError(f"{role}: process {child.pid} exited at once; see {log_path}")
    return LabProcess(role=role, pid=child.pid, start_time=start, log_path=str(log_path))


def _reap(pid: int) -> None:
    # When the process is our own child (pytest fixtures, bench), collect its
    # exit status so it does not linger as a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_gone(proc: LabProcess, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(proc.pid)
        if not is_running(proc):
            return True
        time.sleep(0.1)
    _reap(proc.pid)
    return not is_running(proc)


def send_signal(proc: LabProcess, sig: int) -> None:
    if is_running(proc):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def stop(proc: LabProcess, timeout: float, sig: int = signal.SIGTERM) -> None:
    """Signal ``proc``, wait up to ``timeout`` s, then SIGKILL it."""
    send_signal(proc, sig)
    if not wait_gone(proc, timeout):
        send_signal(proc, signal.SIGKILL)
        wait_gone(proc, 5)


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(p) for p in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return kids


def log_tail(proc: LabProcess, lines: int = 15) -> str:
    """The last lines of ``proc``'s log, for error messages."""
    try:
        text = Path(proc.log_path).read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def identify(role: str, pid: int, log_path: Path) -> LabProcess | None:
    start = start_time_of(pid)
    if start is None:
        return None
    return LabProcess(role=role, pid=pid, start_time=start, log_path=str(log_path))
