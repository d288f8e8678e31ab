"""Run a command, or a probe script of tests/lab, on a lab host over SSH (the counselling suites' probes run on the
host because they talk to a tenant's Synapse on its loopback)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from counselkit.lab import ssh


def run(host: Any, command: str, stdin: str = "", timeout: float = 600) -> str:
    """stdout of `command` on `host`; fails the test with both outputs' tails on a non-zero exit."""
    result = subprocess.run(ssh.ssh_argv(host, [command]), input=stdin, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


def run_probe(host: Any, source: Path, argv: list[str], timeout: float = 600) -> dict[str, Any]:
    """Copy the probe script to root's home on `host` (0600), run it with `argv`; its last output line is JSON."""
    script = f"/root/counselkit-{source.stem.replace('_', '-')}.py"
    run(host, f"umask 077 && cat > {script}", stdin=source.read_text(), timeout=timeout)
    out = run(host, f"python3 {script} " + " ".join(shlex.quote(a) for a in argv), timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])
