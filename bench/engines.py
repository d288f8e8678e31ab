"""pyinfra vs Ansible on lab hosts in the same starting state: first deploy and no-change re-run, with the ratio.

    .venv/bin/python bench/engines.py [--pyinfra node3] [--ansible node8]

Both deploy the example tenants.yaml (all tenants on their host) from one secrets file. Fair only from the same
starting state: before the first run, both hosts' state is fingerprinted (installed packages, enabled units,
whether counselkit was deployed); when the fingerprints differ (e.g. one host bare, the other converged by a
molecule scenario), the first-run row is printed as "not comparable" with the difference and no ratio. The
no-change re-run is compared after each engine has converged its own host.

Units: time is wall-clock seconds of the whole engine run (connect, facts, operations). The change counts are
*not* the same unit and get no ratio: pyinfra counts operations that changed something (the results table's
Success column, summed over operations), Ansible counts tasks reported "changed" (PLAY RECAP changed=, one per
task, whatever its loop size). The lab is shared: only the two named hosts are touched.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import hashlib  # noqa: E402

from counselkit.lab import ssh  # noqa: E402
from counselkit.lab.state import load_state  # noqa: E402
from deploy.runner import run_deploy, run_prepare  # noqa: E402
from tests.checks.molecule_env import tenants_for  # noqa: E402
from tests.support import write_yaml  # noqa: E402

PYINFRA_HOST, ANSIBLE_HOST = "node3", "node8"  # the parity suite's two hosts (node4 is molecule's)
# What a deploy starts from: packages, enabled units, and whether counselkit was deployed.
START_STATE = ("dpkg-query -W -f '${Package} ${Version}\\n' | sort; "
               "systemctl list-unit-files --state=enabled --no-legend --plain | sort; "
               "test -e /etc/counselkit && echo deployed || echo bare")


def start_state(state, host: str) -> tuple[str, set[str]]:
    out = ssh.run(state.host(host), START_STATE).stdout
    return hashlib.sha256(out.encode()).hexdigest()[:12], set(out.splitlines())


def ansible(tenants: Path, env: dict[str, str]) -> tuple[float, int, str]:
    bindir = Path(sys.executable).parent
    full = {**os.environ, **env, "COUNSELKIT_TENANTS": str(tenants), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    prepared = run_prepare(tenants, env)  # lock, secrets, certificates: the inventory plugin only reads
    if prepared.returncode != 0:
        raise SystemExit(f"counselkit prepare failed:\n{prepared.stdout + prepared.stderr}")
    start = time.monotonic()
    result = subprocess.run([str(bindir / "ansible-playbook"), "-i", "inventories/ansible/lab", "site.yml"], cwd=REPO,
                            env=full, capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{(result.stdout + result.stderr)[-4000:]}")
    changed = sum(int(part.split("=")[1]) for line in result.stdout.splitlines() if "ok=" in line and "changed=" in line
                  for part in line.split() if part.startswith("changed="))
    return seconds, changed, result.stdout


def pyinfra(tenants: Path, env: dict[str, str]) -> tuple[float, int]:
    result = run_deploy(tenants, extra_env=env)
    if result.returncode != 0:
        raise SystemExit(f"pyinfra failed:\n{result.output[-4000:]}")
    return result.seconds, result.changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyinfra", default=PYINFRA_HOST)
    parser.add_argument("--ansible", default=ANSIBLE_HOST)
    args = parser.parse_args()
    hosts = (args.pyinfra, args.ansible)
    state = load_state()
    if state is None or not set(hosts) <= {h.name for h in state.hosts}:
        raise SystemExit(f"needs the lab with {' and '.join(hosts)}")
    if "node2" in hosts:
        raise SystemExit("node2 is the audit's bare host: never deployed")
    work = Path(tempfile.mkdtemp(prefix="counselkit-bench-"))
    password = work / "vault-password"
    password.write_text(secrets.token_urlsafe(24) + "\n")
    password.chmod(0o600)
    env = {"COUNSELKIT_VAULT_PASSWORD_FILE": str(password)}
    os.environ.update(env)
    files = {h: write_yaml(work / f"{h}.tenants.yaml", tenants_for(h)) for h in hosts}
    starts = {h: start_state(state, h) for h in hosts}
    same_start = starts[args.pyinfra][0] == starts[args.ansible][0]

    rows = []
    p1, pc1 = pyinfra(files[args.pyinfra], env)
    a1, ac1, _ = ansible(files[args.ansible], env)
    kind = "bare" if "bare" in starts[args.pyinfra][1] else "deployed"
    rows.append((f"first run (both {kind})" if same_start else "first run: NOT COMPARABLE", p1, pc1, a1, ac1, same_start))
    p2, pc2 = pyinfra(files[args.pyinfra], env)
    a2, ac2, _ = ansible(files[args.ansible], env)
    rows.append(("no-change re-run", p2, pc2, a2, ac2, True))

    print(f"{'run':30} {'pyinfra s':>10} {'ops changed':>12} {'ansible s':>10} {'tasks changed':>14} {'time ansible/pyinfra':>21}")
    for name, p, pc, a, ac, comparable in rows:
        ratio = f"{a / p:20.2f}x" if comparable else f"{'-':>21}"
        print(f"{name:30} {p:10.1f} {pc:12d} {a:10.1f} {ac:14d} {ratio}")
    print(f"(3 tenants per host; pyinfra on {args.pyinfra}, Ansible on {args.ansible}; start states "
          f"{ {h: starts[h][0] for h in hosts} }; change counts are different units, see the docstring)")
    if not same_start:
        only = {h: sorted(starts[h][1] - starts[o][1])[:10] for h, o in (hosts, hosts[::-1])}
        print(f"start states differ (first lines only in each): {only}")


if __name__ == "__main__":
    main()
