"""Benchmark: `counselkit plan` for 1,000 generated tenants over 25 hosts (target: under 2 s).

Run: .venv/bin/python bench/plan_scale.py [--tenants 1000] [--hosts 25]
Prints the wall time of the whole command (process start, YAML parse, validation, placement, table).
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import example_data, write_yaml  # noqa: E402

TARGET_SECONDS = 2.0


def generate(tenants: int, hosts: int, directory: Path) -> Path:
    data = example_data()
    capacity = -(-tenants // hosts) + 5
    data["platform"]["hosts"] = [
        {"name": f"node{i + 1}", "address": f"198.51.100.{i + 1}", "capacity_tenants": capacity} for i in range(hosts)
    ]
    template = data["tenants"][0]
    data["tenants"] = []
    for i in range(tenants):
        entry = copy.deepcopy(template)
        entry["slug"] = f"centre-{i:04d}"
        entry["name"] = f"Beratungsstelle {i:04d}"
        data["tenants"].append(entry)
    return write_yaml(directory / "tenants.yaml", data)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=25)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = generate(args.tenants, args.hosts, Path(tmp))
        command = [sys.executable, "-m", "counselkit.cli", "plan", str(path)]
        times = sorted(timed(command) for _ in range(args.runs))
        json_time = timed(command + ["--json"])
    best, median = times[0], times[len(times) // 2]
    print(f"plan: {args.tenants} tenants over {args.hosts} hosts")
    print(f"  counselkit plan         best {best:.2f} s, median {median:.2f} s  (target < {TARGET_SECONDS:.1f} s)")
    print(f"  counselkit plan --json  {json_time:.2f} s")
    print(f"  verdict: {'OK' if median < TARGET_SECONDS else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
