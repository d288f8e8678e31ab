"""The environment every molecule scenario (and the parity test's Ansible side) runs with.

    eval "$(.venv/bin/python -m tests.checks.molecule_env /tmp/counselkit-molecule)"

writes <dir>/tenants.yaml (the example tenants, all on lab host node4) and a vault password file, runs
`counselkit prepare` on it (the inventory plugin only reads), and prints the exports: COUNSELKIT_TENANTS,
COUNSELKIT_VAULT_PASSWORD_FILE, ANSIBLE_CONFIG, PATH (the venv first).
"""

from __future__ import annotations

import secrets
import shlex
import sys
from pathlib import Path

from tests.support import REPO, example_on, write_yaml

MOLECULE_HOST = "node4"


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
    import os

    env = {
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
    env = prepare(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/counselkit-molecule"))
    print("\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items()))
