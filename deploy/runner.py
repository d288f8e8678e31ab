"""Run the pyinfra deploy as an operator would (`counselkit prepare`, then pyinfra -y) and read what it changed — for
tests, bench and demo. `run_prepare` is also what every Ansible run of the tests and bench calls first."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class DeployResult:
    returncode: int
    output: str
    seconds: float
    changed: list[tuple[str, int]] = field(default_factory=list)  # (operation, hosts it changed)

    @property
    def changes(self) -> int:
        return sum(n for _, n in self.changed)


def _strip(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class ResultsTableMissing(ValueError):
    """pyinfra's output has no complete results table: nothing can be said about what changed."""


def parse_changes(output: str) -> list[tuple[str, int]]:
    """Rows of pyinfra's results table ("Operation  Hosts  Success  Error  No Change") whose Success is not '-'.

    Raises ResultsTableMissing when the table or its "Grand total" row is not there: an empty list must mean "no
    change", never "could not read the output" (a second-run test would otherwise pass on a broken parser)."""
    changed = []
    in_table = complete = False
    for line in _strip(output).splitlines():
        words = line.split()
        if "Operation" in words and "Success" in words and "Change" in words:
            in_table = True
            continue
        if not in_table or len(words) < 5:
            continue
        if words[0] == "Grand" and words[1] == "total":
            complete = True
            break
        success = words[-3]
        if success != "-" and success.isdigit():
            changed.append((" ".join(words[:-4]), int(success)))
    if not complete:
        raise ResultsTableMissing("pyinfra's results table " + ("has no 'Grand total' row" if in_table else "was not found")
                                  + f" in its output (last lines: {_strip(output)[-300:]!r})")
    return changed


def run_prepare(tenants_file: Path | str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`counselkit webapp build` (a no-op when build/webapp/ is current), then `counselkit prepare --tenants FILE`
    (lock, secrets, certificates, known_hosts): both engines copy the bundle, the inventories only read."""
    env = {**os.environ, **(extra_env or {})}
    built = subprocess.run([sys.executable, "-m", "counselkit.cli", "webapp", "build"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=900)
    if built.returncode != 0:
        return built
    return subprocess.run([sys.executable, "-m", "counselkit.cli", "prepare", "--tenants", str(tenants_file)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


def run_deploy(tenants_file: Path | str, inventory: str = "inventories/lab.py", extra_env: dict[str, str] | None = None,
               timeout: float = 3600, data: dict[str, str] | None = None) -> DeployResult:
    """`data`: pyinfra's `--data key=value` for every host (e.g. deploy/site.py's keycloak_with_archive)."""
    prepared = run_prepare(tenants_file, extra_env)
    if prepared.returncode != 0:
        return DeployResult(prepared.returncode, prepared.stdout + prepared.stderr, 0.0)
    start = time.monotonic()  # `seconds` is the deploy's own time (bench/deploy_times.py), prepare excluded
    pyinfra = Path(sys.executable).with_name("pyinfra")
    env = {**os.environ, "COUNSELKIT_TENANTS": str(tenants_file), **(extra_env or {})}
    overrides = [arg for key, value in (data or {}).items() for arg in ("--data", f"{key}={value}")]
    result = subprocess.run([str(pyinfra), "-y", *overrides, inventory, "deploy/site.py"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - start
    output = prepared.stdout + result.stdout + result.stderr
    return DeployResult(result.returncode, output, seconds, parse_changes(output) if result.returncode == 0 else [])
