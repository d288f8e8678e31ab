"""The environment every molecule scenario (and the parity test's Ansible side) runs with.

    eval "$(.venv/bin/python -m tests.checks.molecule_env /tmp/counselkit-molecule)"

    eval "$(.venv/bin/python -m tests.checks.molecule_env /tmp/counselkit-molecule-b node9)"

writes <dir>/tenants.yaml (the example tenants, all on lab host node4, or on the host named second) and a vault
password file, runs `counselkit prepare` on it (the inventory plugin only reads), and prints the exports:
COUNSELKIT_MOLECULE_HOST, COUNSELKIT_TENANTS, COUNSELKIT_VAULT_PASSWORD_FILE, ANSIBLE_CONFIG, PATH (the venv first).
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
from pathlib import Path

from tests.support import REPO, example_on, write_yaml

MOLECULE_HOST = "node4"
# Which lab host a scenario converges (molecule.yml's platform, the playbooks' hosts, the verifier's target); the
# molecule suite runs two scenarios at a time, one on each of its two hosts.
HOST_VARIABLE = "COUNSELKIT_MOLECULE_HOST"


def molecule_host() -> str:
    return os.environ.get(HOST_VARIABLE) or MOLECULE_HOST


tenants_for = example_on  # the one definition lives in tests/support.py


def prepare(directory: Path, host: str = MOLECULE_HOST) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    tenants = directory / "tenants.yaml"
    if not tenants.exists():
        write_yaml(tenants, tenants_for(host))
    password = directory / "vault-password"
    if not password.exists():
        password.write_text(secrets.token_urlsafe(24) + "\n")
        password.chmod(0o600)
    bindir = Path(sys.executable).parent
    env = {
        HOST_VARIABLE: host,
        "COUNSELKIT_TENANTS": str(tenants),
        "COUNSELKIT_VAULT_PASSWORD_FILE": str(password),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
    }
    from deploy.runner import run_prepare

    prepared = run_prepare(tenants, env)
    if prepared.returncode != 0:
        raise SystemExit(f"counselkit prepare failed:\n{prepared.stdout + prepared.stderr}")
    return env


if __name__ == "__main__":
    env = prepare(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/counselkit-molecule"),
                  sys.argv[2] if len(sys.argv) > 2 else MOLECULE_HOST)
    print("\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items()))
