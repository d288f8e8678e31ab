"""Loading an inventory as the tools do: pyinfra's own loader prints no traceback, and the audit finds a pyinfra
inventory file (and the repository it imports from) whatever the current directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from counselkit.prepare import prepare
from tests.support import REPO, example_data, write_yaml

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHostK root@h1"
PASSWORD = "unit-test-vault-password"


def prepared_tenants(directory: Path, monkeypatch) -> Path:
    monkeypatch.delenv("COUNSELKIT_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("COUNSELKIT_VAULT_PASSWORD", PASSWORD)
    data = example_data()
    for host in data["platform"]["hosts"]:
        host["host_keys"] = [HOST_KEY]
    tenants = write_yaml(directory / "tenants.yaml", data)
    prepare(tenants)
    return tenants


def test_pyinfra_loads_the_inventory_without_a_traceback(tmp_path, monkeypatch):
    """pyinfra (gevent-patched sockets) loads inventories/production.py, which opens the secrets file and so imports
    Ansible; `debug-inventory` needs no host. Before the fix every run printed gevent's
    "OSError: Int or String expected" traceback here."""
    tenants = prepared_tenants(tmp_path, monkeypatch)
    env = {**os.environ, "COUNSELKIT_TENANTS": str(tenants)}
    result = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), "inventories/production.py",
                             "debug-inventory"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    output = result.stdout + result.stderr
    (REPO / "pyinfra-debug.log").unlink(missing_ok=True)  # pyinfra writes it on an internal error
    assert result.returncode == 0, output[-3000:]
    assert "Loading inventory" in output and "counselkit_hosts" in output
    assert "Traceback" not in output and "Int or String expected" not in output, output[:3000]


def test_ansible_keeps_its_socket_patch_under_gevent():
    """The quiet import changes nothing but the printing: Ansible still installs its getaddrinfo patch."""
    code = ("from gevent import monkey; monkey.patch_all()\n"
            "import socket\n"
            "from counselkit.secrets import _ansible_import\n"
            "with _ansible_import():\n"
            "    import ansible.errors\n"
            "from gevent import get_hub\n"
            "print(type(socket.getaddrinfo).__name__, 'NOT_ERROR' in vars(get_hub()))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.split() == ["GetAddrInfoPatch", "False"]  # patched; the hub back to its class default


def _without_repo_on_path(monkeypatch) -> None:
    """As for an installed counselkit run elsewhere: the repository is not on sys.path, `inventories` not imported."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or os.getcwd()).resolve() != REPO])
    for name in [m for m in sys.modules if m == "inventories" or m.startswith("inventories.")]:
        monkeypatch.delitem(sys.modules, name)


def test_audit_inventory_file_works_from_any_directory(tmp_path, monkeypatch):
    from counselkit.audit.commands import audit_command

    tenants = prepared_tenants(tmp_path, monkeypatch)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _without_repo_on_path(monkeypatch)
    monkeypatch.setenv("COUNSELKIT_TENANTS", str(tmp_path / "not-this.yaml"))  # the audit's --tenants wins
    # --host of no plan host: the inventory is loaded, then the audit stops before connecting anywhere
    result = CliRunner().invoke(audit_command, ["--inventory", str(REPO / "inventories" / "production.py"),
                                                "--tenants", str(tenants), "--host", "no-such-host"])
    assert result.exit_code == 2, result.output
    assert "no host 'no-such-host' in the plan" in result.output and "No module named" not in result.output
    assert str(REPO) not in sys.path  # put back as it was


def test_audit_file_targets_from_a_temp_directory(tmp_path, monkeypatch):
    from counselkit.audit.targets import file_targets

    tenants = prepared_tenants(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    _without_repo_on_path(monkeypatch)
    plan, targets = file_targets(Path(os.path.relpath(REPO / "inventories" / "production.py")), tenants)
    assert [t.name for t in targets] == [h.name for h in plan.hosts]
    assert all("UserKnownHostsFile=" in t.ssh_extra_args for t in targets)  # the inventory's pinned known_hosts


def test_audit_names_an_inventory_that_refuses(tmp_path, monkeypatch):
    from counselkit.audit.targets import TargetError, file_targets

    monkeypatch.delenv("COUNSELKIT_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("COUNSELKIT_VAULT_PASSWORD", PASSWORD)
    tenants = write_yaml(tmp_path / "tenants.yaml", example_data())  # no host keys: production refuses
    prepare(tenants)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with pytest.raises(TargetError, match=r"production\.py: .+host_keys: no pinned SSH host key"):
        file_targets(REPO / "inventories" / "production.py", tenants)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
