"""A deploy that logs in as an admin and uses sudo (platform.hosts[].ssh_user), on one lab host (LAB_HOSTS deploy_b).

The host's first deploy logs in as root (bootstrap) and creates the admin; the next one logs in as that admin —
pyinfra runs every operation through sudo — and switches root's SSH login off. The admin's key is the lab's own,
so the lab inventory's one key serves both runs. At the end root login is opened again by hand (as the admin, with
sudo), because the deploy suite and the lab tools log in to this host as root.
"""

from __future__ import annotations

import time

import pytest

from counselkit import render
from counselkit.components import base as base_spec
from counselkit.lab.ssh import public_key
from deploy.runner import run_deploy
from tests.lab.test_deploy import ssh_as, vault_env, workdir  # noqa: F401  (module fixtures, reused here)
from tests.support import LAB_HOSTS, example_data, write_yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST = LAB_HOSTS["deploy_b"]
TENANT = "diakonie-luebeck"  # the deploy suite's tenant on this host: the orphan guard expects it there
DEPLOYER = "deployer"  # an admin whose ssh_key is the lab key


def tenants_data(ssh_user: str) -> dict:
    data = example_data()
    data["platform"]["admins"].append({"name": DEPLOYER, "ssh_key": public_key()})
    data["platform"]["hosts"] = [{"name": HOST, "address": "203.0.113.11", "ssh_user": ssh_user}]
    data["tenants"] = [dict(t, host=HOST) for t in data["tenants"] if t["slug"] == TENANT]
    return data


@pytest.fixture(scope="module")
def tenants_file(workdir):  # noqa: F811
    return workdir / "tenants.yaml"


@pytest.fixture(scope="module")
def bootstrap(lab, tenants_file, vault_env):  # noqa: F811
    """The host's first deploy with this tenants file: as root, which creates the admin with key and sudo."""
    write_yaml(tenants_file, tenants_data("root"))
    result = run_deploy(tenants_file, extra_env=vault_env)
    assert result.returncode == 0, result.output[-6000:]
    return result


def lab_key(lab):
    return lab.host(HOST).ssh_key_path


def test_deploy_as_admin_with_sudo_switches_root_login_off(lab, bootstrap, tenants_file, vault_env):  # noqa: F811
    key = lab_key(lab)
    control = lab.host(HOST).control_address  # where the tests' SSH connections come from
    assert ssh_as(lab, HOST, "root", key, "true").returncode == 0  # after the bootstrap run root still logs in
    time.sleep(1.5)  # the journal window below starts at a whole second after that root login
    since = ssh_as(lab, HOST, DEPLOYER, key, "date +%s").stdout.strip()
    assert since.isdigit()
    write_yaml(tenants_file, tenants_data(DEPLOYER))
    try:
        result = run_deploy(tenants_file, extra_env=vault_env)
        assert result.returncode == 0, result.output[-6000:]
        # only sshd changed: everything else the admin (through sudo) found as root left it
        changed = {op.rsplit(" | ", 1)[-1]: hosts for op, hosts in result.changed}  # "<deploy> | <operation>"
        sshd_config = render.HOST_TEMPLATES["base/sshd_config.j2"]  # names as deploy/base.py gives them
        assert set(changed) <= {f"Render {sshd_config}", f"Check {sshd_config}", base_spec.RELOAD_SSHD}, result.changed
        assert changed.get(f"Render {sshd_config}") == 1, result.changed
        time.sleep(1)
        log = ssh_as(lab, HOST, DEPLOYER, key, f"sudo -n journalctl -q -u ssh.service --since @{since} -o cat")
        assert log.returncode == 0, log.stderr
        assert f"Accepted publickey for {DEPLOYER}" in log.stdout
        assert "Accepted publickey for root" not in log.stdout, log.stdout  # the deploy never logged in as root
        # The refused root login below counts, rightly, as failures for fail2ban (sshd logs it two or three times),
        # and together with the deploy suite's refused logins it bans the control side from this host within
        # minutes — every later suite then finds the lab down. Exempt the control address for this test only
        # (runtime setting of the jail, taken back at the end).
        ignore = ssh_as(lab, HOST, DEPLOYER, key, f"sudo -n fail2ban-client set sshd addignoreip {control}")
        assert ignore.returncode == 0, ignore.stderr
        effective = ssh_as(lab, HOST, DEPLOYER, key, "sudo -n sshd -T")
        assert "permitrootlogin no" in effective.stdout.splitlines(), effective.stdout[-2000:]
        refused = ssh_as(lab, HOST, "root", key, "true")  # root's authorized_keys still holds this key
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused.stderr
    finally:
        # Give root its login back for the deploy suite and the lab tools (they log in to this host as root);
        # their next deploy writes sshd_config from their own plan anyway.
        reopen = ssh_as(lab, HOST, DEPLOYER, key, "sudo -n sed -i 's/^PermitRootLogin no$/PermitRootLogin "
                        "prohibit-password/' /etc/ssh/sshd_config && sudo -n systemctl reload ssh.service")
        assert reopen.returncode == 0, reopen.stderr
    assert root_logs_in(lab, key)
    banned = ssh_as(lab, HOST, "root", key, f"fail2ban-client set sshd delignoreip {control} >/dev/null && "
                    "fail2ban-client get sshd banned")
    assert banned.returncode == 0 and control not in banned.stdout, (banned.stdout, banned.stderr)


def root_logs_in(lab, key, seconds: float = 15) -> bool:
    """True once root logs in again; sshd refuses connections for a moment while it re-executes on reload."""
    deadline = time.monotonic() + seconds
    while ssh_as(lab, HOST, "root", key, "true").returncode != 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True
