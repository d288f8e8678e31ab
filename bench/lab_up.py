"""Time `counselkit lab up --hosts N` with a warm image cache (and a cold one with --cold).

Usage (as root):  .venv/bin/python bench/lab_up.py [--hosts 2] [--cold] [--runs 1]

Each run starts from a downed lab and ends with `lab down`, which is timed too.
Exits 1 when the median warm `up` misses the target (60 s for 2 hosts); min and max are printed beside it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from counselkit.lab import image, lab_down, load_state

TARGET_WARM_SECONDS = 60.0
LAB_CLI = [sys.executable, "-c", "from counselkit.lab.commands import lab; lab()"]


def timed_cli(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([*LAB_CLI, *args], capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"`lab {' '.join(args)}` failed:\n{result.stderr}")
    return elapsed


def one_run(hosts: int, label: str) -> tuple[float, float]:
    up = timed_cli("up", "--hosts", str(hosts))
    down = timed_cli("down")
    print(f"{label:<5} lab up --hosts {hosts}: {up:6.1f} s   lab down: {down:5.1f} s", flush=True)
    return up, down


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--cold", action="store_true", help="also time a run with an empty image cache")
    parser.add_argument("--runs", type=int, default=3, help="warm runs (the median is judged; use an odd number)")
    args = parser.parse_args()

    if load_state() is not None:
        print("taking the running lab down first", flush=True)
        lab_down()
    if args.cold:
        shutil.rmtree(image.image_dir(), ignore_errors=True)
        one_run(args.hosts, "cold")
    elif not image.is_cached():
        print("image cache empty: the first run builds it and is not counted as warm", flush=True)
        one_run(args.hosts, "cold")

    warm = [one_run(args.hosts, "warm")[0] for _ in range(args.runs)]
    middle = statistics.median(warm)
    verdict = "meets" if middle < TARGET_WARM_SECONDS else "MISSES"
    print(f"warm lab up over {len(warm)} run(s): median {middle:.1f} s (min {min(warm):.1f}, max {max(warm):.1f}) — "
          f"{verdict} the {TARGET_WARM_SECONDS:.0f} s target")
    return 0 if middle < TARGET_WARM_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
