"""Lighthouse scores of a centre's landing page (issue 16 point 7), in Debian's Chromium against a lab site.

    COUNSELKIT_VAULT_PASSWORD_FILE=... .venv/bin/python bench/webapp_lighthouse.py --file SITE/tenants.yaml \
        --host node1 [--tenant awo-kiel]

Lighthouse comes from npm, pinned by bench/lighthouse/package-lock.json, installed here with `npm ci` on first use
(not by the test command: the suite does not need it). The bench starts Chromium itself with the lab's name map and
the site's certificates (tests/browser/harness.py lab_chromium_args, the same as the browser tests) and a DevTools
port on 127.0.0.1, and points Lighthouse at that browser (`--port`). Two runs: Lighthouse's mobile default
(simulated slow 4G and a 4x slower CPU) and its desktop preset. Printed: the scores of performance,
accessibility and best practices (0-100) and the main timings. The tenants file must name the host's lab address.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.webapp_timings import lab_tenant  # noqa: E402
from tests.browser.harness import CHROMIUM, chromium_args, lab_chromium_args  # noqa: E402

TOOL_DIR = Path(__file__).resolve().parent / "lighthouse"
LIGHTHOUSE = TOOL_DIR / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices")
TIMINGS = ("first-contentful-paint", "largest-contentful-paint", "interactive", "total-blocking-time",
           "cumulative-layout-shift")
PRESETS = {"mobile": [], "desktop": ["--preset=desktop"]}


def ensure_lighthouse() -> None:
    stamp = TOOL_DIR / "node_modules" / ".counselkit-lock"
    lock = (TOOL_DIR / "package-lock.json").read_text()
    if LIGHTHOUSE.exists() and stamp.exists() and stamp.read_text() == lock:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TOOL_DIR, check=True)
    stamp.write_text(lock)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_devtools(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"Chromium opened no DevTools port {port} within {timeout} s")


def lighthouse(url: str, port: int, preset: list[str], report: Path) -> dict:
    subprocess.run([str(LIGHTHOUSE), url, f"--port={port}", "--output=json", f"--output-path={report}",
                    f"--only-categories={','.join(CATEGORIES)}", "--quiet", *preset], check=True, timeout=600)
    return json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, required=True, help="the deployed site's tenants.yaml")
    parser.add_argument("--host", required=True, help="the lab host it is deployed on (e.g. node1)")
    parser.add_argument("--tenant", default="awo-kiel")
    args = parser.parse_args()
    ensure_lighthouse()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        site, entry = lab_tenant(args.file, args.host, args.tenant, workdir)
        port = free_port()
        chromium = subprocess.Popen(
            [str(CHROMIUM), "--headless=new", f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1",
             f"--user-data-dir={workdir / 'profile'}",
             *chromium_args(lab_chromium_args({entry.domain: site.host.address}, site.site.ca_file)), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_devtools(port)
            results = {name: lighthouse(f"https://{entry.domain}/", port, preset, workdir / f"{name}.json")
                       for name, preset in PRESETS.items()}
        finally:
            chromium.terminate()
            chromium.wait(timeout=30)
    print(f"Lighthouse {results['mobile']['lighthouseVersion']} — {args.tenant} landing page on {args.host}")
    print(f"{'':<28}" + "".join(f"{name:>12}" for name in PRESETS))
    for category in CATEGORIES:
        print(f"{category + ' score':<28}" + "".join(
            f"{round(100 * results[name]['categories'][category]['score']):>12}" for name in PRESETS))
    for audit in TIMINGS:
        print(f"{audit:<28}" + "".join(
            f"{results[name]['audits'][audit]['displayValue']:>12}" for name in PRESETS))


if __name__ == "__main__":
    main()
