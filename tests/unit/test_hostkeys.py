"""Production deploys pin SSH host keys: known_hosts from tenants.yaml, strict checking, refusal without a key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from counselkit.hostkeys import UnpinnedHostError, known_hosts_path, write_known_hosts
from counselkit.plan import load_plan
from counselkit.prepare import prepare
from tests.support import example_data, write_yaml

REPO = Path(__file__).resolve().parents[2]
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHostK root@h1"


def tenants(tmp_path: Path, pinned: bool, port: int = 22) -> Path:
    data = example_data()
    for host in data["platform"]["hosts"]:
        host["ssh_port"] = port
        if pinned:
            host["host_keys"] = [HOST_KEY]
    return write_yaml(tmp_path / "tenants.yaml", data)


def test_a_host_without_pinned_key_is_refused_naming_the_field(tmp_path):
    path = tenants(tmp_path, pinned=False)
    with pytest.raises(UnpinnedHostError, match=r"platform\.hosts\[.+\]\.host_keys: no pinned SSH host key"):
        write_known_hosts(load_plan(path), path)
    assert not known_hosts_path(path).exists()


def test_known_hosts_holds_exactly_the_pinned_keys(tmp_path):
    path = tenants(tmp_path, pinned=True, port=2222)
    plan = load_plan(path)
    assert write_known_hosts(plan, path)
    expected = [f"[{h.address}]:2222 {' '.join(HOST_KEY.split()[:2])}" for h in plan.hosts]
    assert known_hosts_path(path).read_text().splitlines() == expected
    mtime = known_hosts_path(path).stat().st_mtime_ns
    assert not write_known_hosts(plan, path)  # unchanged: not rewritten (a second `counselkit prepare` writes nothing)
    assert known_hosts_path(path).stat().st_mtime_ns == mtime


def test_pyinfra_production_inventory_uses_strict_checking_and_refuses_unpinned(tmp_path, monkeypatch):
    from inventories import common

    monkeypatch.setenv(common.TENANTS_ENV, str(tenants(tmp_path, pinned=False)))
    with pytest.raises(SystemExit, match="host_keys"):
        common.pyinfra_hosts(None, pin_host_keys=True)
    path = tenants(tmp_path, pinned=True)
    monkeypatch.setenv(common.TENANTS_ENV, str(path))
    monkeypatch.delenv("COUNSELKIT_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("COUNSELKIT_VAULT_PASSWORD", "unit-test-vault-password")
    prepare(path)  # the inventory only reads what prepare writes
    for _, data in common.pyinfra_hosts(None, pin_host_keys=True):
        assert data["ssh_strict_host_key_checking"] == "yes"
        assert data["ssh_known_hosts_file"] == str(known_hosts_path(path))


def test_ansible_production_inventory_refuses_unpinned_and_pins_otherwise(tmp_path):
    ansible_inventory = Path(sys.executable).with_name("ansible-inventory")
    env = {**os.environ, "COUNSELKIT_TENANTS": str(tenants(tmp_path, pinned=False)),
           "COUNSELKIT_VAULT_PASSWORD": "unit-test-vault-password", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}
    run = [str(ansible_inventory), "-i", "inventories/ansible/production", "--list"]
    refused = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "no pinned SSH host key" in refused.stdout + refused.stderr
    env["COUNSELKIT_TENANTS"] = str(tenants(tmp_path, pinned=True))
    env.pop("COUNSELKIT_VAULT_PASSWORD_FILE", None)
    subprocess.run([sys.executable, "-m", "counselkit.cli", "prepare", "--tenants", env["COUNSELKIT_TENANTS"]],
                   cwd=REPO, env=env, check=True, capture_output=True)
    listed = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "StrictHostKeyChecking=yes" in listed.stdout and str(known_hosts_path(tmp_path / "tenants.yaml")) in listed.stdout
