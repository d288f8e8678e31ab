"""`counselkit prepare` is the only writer of the derived files; plan, validate, the inventories and the audit read.

"Read" is checked byte for byte: every file of the tenants directory (content, mode, mtime) and the list of names
are the same before and after.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from counselkit.cli import cli
from counselkit.hostkeys import known_hosts_path
from counselkit.lock import lock_path
from counselkit.prepare import NotPrepared, prepare, prepared_plan, require_prepared
from counselkit.plan import load_plan
from tests.support import REPO, example_data, tenant_entry, write_yaml

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHostK root@h1"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOt root@h1"
PASSWORD = "unit-test-vault-password"


def snapshot(directory: Path) -> dict[str, tuple[str, int, int]]:
    """name -> (sha256, mode, mtime in ns) of every file below `directory`."""
    result = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            info = path.stat()
            result[str(path.relative_to(directory))] = (hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mode,
                                                        info.st_mtime_ns)
    return result


@pytest.fixture
def vault(monkeypatch):
    monkeypatch.delenv("COUNSELKIT_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("COUNSELKIT_VAULT_PASSWORD", PASSWORD)


def pinned_tenants(directory: Path, key: str = HOST_KEY) -> Path:
    data = example_data()
    for host in data["platform"]["hosts"]:
        host["host_keys"] = [key]
    return write_yaml(directory / "tenants.yaml", data)


def test_prepare_writes_lock_secrets_known_hosts_and_a_second_run_writes_nothing(tmp_path, vault):
    tenants = pinned_tenants(tmp_path)
    first = prepare(tenants)
    assert first.changed and len(first.lock_pinned) == 3 and first.known_hosts_written
    assert any(ref.endswith("tls_internal") for ref in first.secrets_created)  # the certificates, too
    assert lock_path(tenants).exists() and known_hosts_path(tenants).exists() and (tmp_path / "secrets.vault").exists()
    before = snapshot(tmp_path)
    second = prepare(tenants)
    assert not second.changed and second.lines[-1].startswith("nothing to write")
    assert snapshot(tmp_path) == before


def test_prepare_cli_says_when_nothing_was_written(tmp_path, vault):
    tenants = pinned_tenants(tmp_path)
    assert CliRunner().invoke(cli, ["prepare", "--tenants", str(tenants)]).exit_code == 0
    before = snapshot(tmp_path)
    again = CliRunner().invoke(cli, ["prepare", str(tenants)])  # the positional form, too
    assert again.exit_code == 0 and "nothing to write" in again.output, again.output
    assert snapshot(tmp_path) == before


def test_prepare_with_a_problem_in_tenants_yaml_writes_nothing(tmp_path, vault):
    data = example_data()
    data["tenants"][0]["seats"] = "many"
    tenants = write_yaml(tmp_path / "tenants.yaml", data)
    before = snapshot(tmp_path)
    result = subprocess.run([sys.executable, "-m", "counselkit.cli", "prepare", "--tenants", str(tenants)], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "COUNSELKIT_VAULT_PASSWORD": PASSWORD})
    assert result.returncode == 1 and "seats" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("prepared", [False, True], ids=["unprepared", "prepared"])
def test_plan_and_validate_leave_the_tenants_directory_byte_identical(tmp_path, vault, prepared):
    tenants = pinned_tenants(tmp_path)
    if prepared:
        prepare(tenants)
    before = snapshot(tmp_path)
    for args in (["plan", str(tenants)], ["plan", "--json", "--tenants", str(tenants)], ["validate", str(tenants)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    assert snapshot(tmp_path) == before
    assert lock_path(tenants).exists() == prepared  # plan no longer pins anything


def test_plan_shows_new_tenants_and_says_prepare_pins_them(tmp_path, vault):
    tenants = pinned_tenants(tmp_path)
    result = subprocess.run([sys.executable, "-m", "counselkit.cli", "plan", "--tenants", str(tenants)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0 and " new" in result.stdout
    assert f"run `counselkit prepare --tenants {tenants}` before deploying" in result.stderr


def _inventory_hosts(monkeypatch, tenants: Path, production: bool = True):
    from inventories import common

    monkeypatch.setenv(common.TENANTS_ENV, str(tenants))
    return common.pyinfra_hosts(None, pin_host_keys=production)


def test_pyinfra_inventory_reads_only(tmp_path, vault, monkeypatch):
    tenants = pinned_tenants(tmp_path)
    prepare(tenants)
    before = snapshot(tmp_path)
    hosts = _inventory_hosts(monkeypatch, tenants)
    assert [name for name, _ in hosts] == [h.name for h in load_plan(tenants).hosts]
    assert snapshot(tmp_path) == before


def _one_line_refusal(monkeypatch, tenants: Path) -> str:
    with pytest.raises(SystemExit) as refused:
        _inventory_hosts(monkeypatch, tenants)
    message = str(refused.value.code)
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith(f"run `counselkit prepare --tenants {tenants}` first"), message
    return message


def test_unprepared_inventory_names_the_lock_and_writes_nothing(tmp_path, vault, monkeypatch):
    tenants = pinned_tenants(tmp_path)
    before = snapshot(tmp_path)
    message = _one_line_refusal(monkeypatch, tenants)
    assert message.startswith(f"{lock_path(tenants)}: tenants awo-kiel, diakonie-luebeck, skf-husum not pinned yet")
    assert snapshot(tmp_path) == before


def test_a_stale_lock_names_the_new_tenant(tmp_path, vault, monkeypatch):
    tenants = pinned_tenants(tmp_path)
    prepare(tenants)
    data = example_data()
    data["platform"]["hosts"][0]["host_keys"] = [HOST_KEY]
    data["tenants"].append(tenant_entry("caritas-flensburg"))
    write_yaml(tenants, data)
    message = _one_line_refusal(monkeypatch, tenants)
    assert message.startswith(f"{lock_path(tenants)}: tenant caritas-flensburg not pinned yet")


def test_missing_secrets_and_stale_known_hosts_are_named(tmp_path, vault, monkeypatch):
    tenants = pinned_tenants(tmp_path)
    prepare(tenants)
    (tmp_path / "secrets.vault").unlink()
    message = _one_line_refusal(monkeypatch, tenants)
    assert message.startswith(f"{tmp_path / 'secrets.vault'}: secrets ") and "missing" in message
    prepare(tenants)
    pinned_tenants(tmp_path, key=OTHER_KEY)  # a host key changed in tenants.yaml
    message = _one_line_refusal(monkeypatch, tenants)
    assert message.startswith(f"{known_hosts_path(tenants)}: does not match the host keys pinned in {tenants}")


def test_a_certificate_due_for_renewal_is_not_prepared(tmp_path, vault):
    from counselkit import tls
    from counselkit.secrets import SecretStore

    tenants = pinned_tenants(tmp_path)
    prepare(tenants)
    plan = load_plan(tenants)
    store = SecretStore.open(tenants)
    slug = plan.tenants()[0].slug
    store.set(tls.tenant_tls_ref(slug), store.get(tls.tenant_tls_ref(plan.tenants()[1].slug)))  # another name
    store.save()
    with pytest.raises(NotPrepared, match=rf"certificate tenants\.{slug}\.tls_internal missing or due"):
        require_prepared(tenants, plan)


def test_ansible_inventory_plugin_reads_only(tmp_path):
    tenants = pinned_tenants(tmp_path)
    env = {**os.environ, "COUNSELKIT_TENANTS": str(tenants), "COUNSELKIT_VAULT_PASSWORD": PASSWORD,
           "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}
    env.pop("COUNSELKIT_VAULT_PASSWORD_FILE", None)
    listing = [str(Path(sys.executable).with_name("ansible-inventory")), "-i", "inventories/ansible/production", "--list"]
    before = snapshot(tmp_path)
    refused = subprocess.run(listing, cwd=REPO, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and f"run `counselkit prepare --tenants {tenants}` first" in refused.stderr
    assert snapshot(tmp_path) == before
    subprocess.run([sys.executable, "-m", "counselkit.cli", "prepare", "--tenants", str(tenants)], cwd=REPO, env=env,
                   check=True, capture_output=True)
    before = snapshot(tmp_path)
    listed = subprocess.run(listing, cwd=REPO, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert snapshot(tmp_path) == before


def test_audit_loads_plan_and_inventory_without_writing(tmp_path, vault):
    from counselkit.audit.targets import file_targets, production_targets

    tenants = pinned_tenants(tmp_path)
    prepare(tenants)
    before = snapshot(tmp_path)
    plan, targets = file_targets(REPO / "inventories" / "production.py", tenants)
    assert [t.name for t in targets] == [h.name for h in plan.hosts]
    production_targets(tenants)
    assert snapshot(tmp_path) == before


def test_audit_refuses_an_unprepared_tenants_file(tmp_path, vault):
    from counselkit.audit.targets import TargetError, production_targets

    tenants = pinned_tenants(tmp_path)
    with pytest.raises(TargetError, match=r"not pinned yet; run `counselkit prepare --tenants .+` first"):
        production_targets(tenants)
    assert not lock_path(tenants).exists()


def test_prepared_plan_reports_tenants_yaml_problems_as_one_message(tmp_path, vault):
    from counselkit.prepare import PlanUnavailable

    data = example_data()
    data["tenants"][0]["seats"] = "many"
    tenants = write_yaml(tmp_path / "tenants.yaml", data)
    with pytest.raises(PlanUnavailable, match="seats"):
        prepared_plan(tenants)


def test_prepare_without_vault_password_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("COUNSELKIT_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.delenv("COUNSELKIT_VAULT_PASSWORD", raising=False)
    tenants = pinned_tenants(tmp_path)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(cli, ["prepare", "--tenants", str(tenants)])
    assert result.exit_code != 0
    assert snapshot(tmp_path) == before  # not even the lock: fail whole, never half
