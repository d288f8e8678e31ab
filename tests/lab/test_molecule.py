"""Every role's molecule scenario (default/delegated driver, lab host node4): converge, idempotence, verify.

One pytest test per role, so a failing role is named; nothing is skipped. The scenarios share the session's lab
(create runs `counselkit lab up --hosts 4`, which reuses a healthy lab; destroy leaves it up). Each starts from a
reset host (`counselkit lab reset node4`: a fresh copy of the image), so a scenario passes alone and in any order
and brings its own prerequisites (its prepare.yml / converge.yml), never those an earlier scenario left.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.checks.molecule_env import MOLECULE_HOST, prepare
from tests.support import environment_kept

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ROLES = ["hardening", "postgresql", "synapse", "nginx", "keycloak", "backup"]


@pytest.fixture(scope="module")
def molecule_env(lab, tmp_path_factory) -> dict[str, str]:
    env = {**os.environ, **prepare(tmp_path_factory.mktemp("molecule"))}
    if lab.s3 is not None:  # the backup role needs the storage provider's keys: the lab's S3 server
        from counselkit.plan import load_plan
        from counselkit.secrets import SecretStore

        with environment_kept("COUNSELKIT_VAULT_PASSWORD_FILE"):  # the vault opens in-process; the session's stays
            os.environ["COUNSELKIT_VAULT_PASSWORD_FILE"] = env["COUNSELKIT_VAULT_PASSWORD_FILE"]
            plan = load_plan(env["COUNSELKIT_TENANTS"])  # prepared by molecule_env.prepare (counselkit prepare)
            store = SecretStore.open(env["COUNSELKIT_TENANTS"])
            store.set(plan.platform_secrets["backup_s3_access_key"], lab.s3.access_key)
            store.set(plan.platform_secrets["backup_s3_secret_key"], lab.s3.secret_key)
            store.save()
    return env


@pytest.fixture
def reset_host(lab) -> None:
    """The molecule host as the lab's image has it: whatever the previous scenario (or anything else) installed is
    gone. A marker written before the reset must be gone after it, so a reset that did nothing fails here."""
    from counselkit.lab import lab_reset, ssh

    host = lab.host(MOLECULE_HOST)
    marker = "/root/.counselkit-before-reset"
    assert ssh.run(host, f"touch {marker}").returncode == 0
    lab_reset(MOLECULE_HOST)
    assert ssh.run(host, f"test ! -e {marker}").returncode == 0, f"{MOLECULE_HOST} was not reset"


@pytest.mark.parametrize("role", ROLES)
def test_molecule_scenario(role, molecule_env, reset_host):
    result = subprocess.run(["molecule", "test"], cwd=REPO / "roles" / role, env=molecule_env,
                            capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"molecule test of roles/{role} failed:\n{output[-6000:]}"
