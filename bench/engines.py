"""pyinfra vs Ansible on identical lab hosts: first deploy and no-change re-run, side by side with the ratio.

    .venv/bin/python bench/engines.py            (lab up with >= 4 hosts; pyinfra -> node3, Ansible -> node4)

Both deploy the example tenants.yaml (all tenants on their host) from one secrets file. "first" is a fresh deploy
only on bare hosts; if /etc/counselkit already exists there, the line says so (it is then a converge of an
installed host). The lab is shared: only node3 and node4 are touched.
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

from counselkit.lab import ssh  # noqa: E402
from counselkit.lab.state import load_state  # noqa: E402
from deploy.runner import run_deploy, run_prepare  # noqa: E402
from tests.checks.molecule_env import tenants_for  # noqa: E402
from tests.support import write_yaml  # noqa: E402

PYINFRA_HOST, ANSIBLE_HOST = "node3", "node4"


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
    state = load_state()
    if state is None or not {PYINFRA_HOST, ANSIBLE_HOST} <= {h.name for h in state.hosts}:
        raise SystemExit("needs the lab with node3 and node4: counselkit lab up --hosts 4")
    work = Path(tempfile.mkdtemp(prefix="counselkit-bench-"))
    password = work / "vault-password"
    password.write_text(secrets.token_urlsafe(24) + "\n")
    password.chmod(0o600)
    env = {"COUNSELKIT_VAULT_PASSWORD_FILE": str(password)}
    os.environ.update(env)
    files = {h: write_yaml(work / f"{h}.tenants.yaml", tenants_for(h)) for h in (PYINFRA_HOST, ANSIBLE_HOST)}
    bare = {h: ssh.run(state.host(h), "test -e /etc/counselkit").returncode != 0 for h in files}

    rows = []
    p1, pc1 = pyinfra(files[PYINFRA_HOST], env)
    a1, ac1, _ = ansible(files[ANSIBLE_HOST], env)
    rows.append(("first deploy" if all(bare.values()) else "first run (hosts not bare)", p1, pc1, a1, ac1))
    p2, pc2 = pyinfra(files[PYINFRA_HOST], env)
    a2, ac2, _ = ansible(files[ANSIBLE_HOST], env)
    rows.append(("no-change re-run", p2, pc2, a2, ac2))

    print(f"{'run':30} {'pyinfra s':>10} {'changes':>8} {'ansible s':>10} {'changed':>8} {'ansible/pyinfra':>16}")
    for name, p, pc, a, ac in rows:
        print(f"{name:30} {p:10.1f} {pc:8d} {a:10.1f} {ac:8d} {a / p:15.2f}x")
    print(f"(3 tenants per host; pyinfra on {PYINFRA_HOST}, Ansible on {ANSIBLE_HOST}; bare before: {bare})")


if __name__ == "__main__":
    main()
