"""Deploy timings on one lab host: fresh deploy of N tenants, no-change re-run, add one tenant; Synapse RSS.

    .venv/bin/python bench/deploy_times.py [--host node3] [--tenants 3]       (as root; brings the lab up if needed)

The host should be bare for the "fresh" figure (the bench says whether it was); the other figures hold either way.
Needs a vault password: COUNSELKIT_VAULT_PASSWORD(_FILE), else a throw-away one is made for the bench's own
secrets file next to its generated tenants.yaml.
"""

from __future__ import annotations

import argparse
import os
import secrets as random_source
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from counselkit.lab import ssh  # noqa: E402
from counselkit.lab import lab_up, load_state  # noqa: E402
from deploy.runner import run_deploy  # noqa: E402
from tests.support import example_data, tenant_entry, write_yaml  # noqa: E402

SLUGS = ["awo-kiel", "diakonie-luebeck", "skf-husum"] + [f"beratung-{i:02d}" for i in range(4, 60)]


def tenants_yaml(path: Path, host: str, count: int) -> Path:
    data = example_data()
    data["platform"]["hosts"] = [{"name": host, "address": "203.0.113.10", "capacity_tenants": 100}]
    examples = {t["slug"]: t for t in data["tenants"]}
    data["tenants"] = []
    for slug in SLUGS[:count]:
        entry = dict(examples.get(slug) or tenant_entry(slug, name=f"Beratungsstelle {slug}"))
        entry["host"] = host
        data["tenants"].append(entry)
    return write_yaml(path, data)


def run(host, command: str) -> str:
    result = ssh.run(host, command, timeout=120)
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="node3", help="a lab host no other tenants file uses (default node3)")
    parser.add_argument("--tenants", type=int, default=3)
    args = parser.parse_args()
    wanted = int(args.host.removeprefix("node"))
    state = load_state()
    if state is None:
        state = lab_up(wanted)
    elif len(state.hosts) < wanted:
        sys.exit(f"the lab is up with {len(state.hosts)} host(s) but the bench wants {args.host}; "
                 f"take it down and run `counselkit lab up --hosts {wanted}`, or pass --host of a bare lab host")
    lab_host = state.host(args.host)
    env = {}
    if not (os.environ.get("COUNSELKIT_VAULT_PASSWORD") or os.environ.get("COUNSELKIT_VAULT_PASSWORD_FILE")):
        env["COUNSELKIT_VAULT_PASSWORD"] = random_source.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="counselkit-bench-"))
    tenants_file = tenants_yaml(workdir / "tenants.yaml", args.host, args.tenants)
    fresh = "no" if run(lab_host, "test -d /etc/counselkit && echo yes || echo no").strip() == "yes" else "yes"

    figures = []

    def step(label: str) -> None:
        result = run_deploy(tenants_file, extra_env=env)
        if result.returncode != 0:  # a failed run's time says nothing
            sys.exit(result.output[-5000:])
        figures.append((label, result.seconds, result.changes))

    step(f"deploy, {args.tenants} tenants (bare host: {fresh})")
    step(f"no-change re-run, {args.tenants} tenants")
    tenants_yaml(tenants_file, args.host, args.tenants + 1)
    step(f"add one tenant (-> {args.tenants + 1})")
    step(f"no-change re-run, {args.tenants + 1} tenants")

    print(f"\nhost {args.host} ({lab_host.address}), tenants file {tenants_file}")
    print(f"{'step':45} {'seconds':>8} {'changes':>8}")
    for step, seconds, changes in figures:
        print(f"{step:45} {seconds:8.1f} {changes:8d}")
    print(f"\n{'Synapse instance':40} {'RSS MiB':>8}")
    rss = run(lab_host, "for u in $(systemctl list-units --plain --no-legend 'matrix-synapse@*' | awk '{print $1}'); "
                        "do echo $u $(ps -o rss= -p $(systemctl show -p MainPID --value $u)); done")
    values = []
    for line in rss.splitlines():
        unit, kib = line.split()
        values.append(int(kib) / 1024)
        print(f"{unit:40} {int(kib) / 1024:8.1f}")
    if values:
        print(f"{'mean':40} {sum(values) / len(values):8.1f}")


if __name__ == "__main__":
    main()
