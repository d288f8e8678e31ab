"""The Ansible synapse role writes each tenant's Synapse OIDC file exactly as deploy/keycloak.py synapse_oidc() does
when Keycloak is configured (issue 13.10: without it password login stayed on, without OTP), and not otherwise.

The role's own task (roles/synapse/tasks/main.yml) is run by ansible-playbook on localhost with the hostvars of
the counselkit_plan inventory plugin; only its destination and owner are bent to a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from counselkit import layout
from counselkit.keycloak import render as kc
from counselkit.plan import load_plan
from tests.support import KEYCLOAK_PIN, REPO, example_data, write_yaml

BIN = Path(sys.executable).parent
TASK_NAME = "Synapse OIDC provider per tenant (Keycloak; client secret, 0600)"


def plan_with_keycloak(tmp_path: Path, keycloak: bool):
    data = example_data()
    if keycloak:
        data["platform"]["artifacts"] = {"keycloak": dict(KEYCLOAK_PIN)}
    tenants = write_yaml(tmp_path / "tenants.yaml", data)
    return tenants, load_plan(tenants)


def oidc_task() -> dict:
    tasks = YAML(typ="safe").load((REPO / "roles/synapse/tasks/main.yml").read_text())
    [task] = [t for t in tasks if t["name"] == TASK_NAME]
    return task


def run_role_task(tmp_path: Path, keycloak: bool) -> tuple[object, dict[str, str], dict[str, Path]]:
    sys.path.insert(0, str(REPO / "inventories/ansible/plugins/inventory"))
    from counselkit_plan import host_data

    tenants, plan = plan_with_keycloak(tmp_path, keycloak)
    host = plan.hosts[0]
    secrets = {t.slug: f"client-secret-of-{t.slug}" for t in host.tenants}
    hostvars = host_data(plan, host, tenants)
    hostvars["counselkit_secrets"] = {"tenants": {slug: {"oidc_client_secret": s} for slug, s in secrets.items()}}
    out = {t.slug: tmp_path / "out" / t.slug / "oidc.yaml" for t in host.tenants}
    for path in out.values():
        path.parent.mkdir(parents=True)
    task = oidc_task()
    # Only where it writes and as whom change: the template, its variables and the condition are the role's.
    task["ansible.builtin.template"].update(dest=f"{tmp_path}/out/{{{{ item.slug }}}}/oidc.yaml",
                                           owner=str(os.getuid()), group=str(os.getgid()))
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [str(tmp_path / "hostvars.json")],
             "tasks": [task]}]
    (tmp_path / "hostvars.json").write_text(json.dumps(hostvars))
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "COUNSELKIT_VAULT_PASSWORD": "nothing-is-decrypted-here", "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "--diff", str(tmp_path / "play.yml")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for secret in secrets.values():
        assert secret not in result.stdout + result.stderr, "a client secret reached the output of --diff"
    return plan, secrets, out


def test_role_writes_the_oidc_file_of_the_pyinfra_deploy(tmp_path: Path) -> None:
    plan, secrets, out = run_role_task(tmp_path, keycloak=True)
    for tenant in plan.hosts[0].tenants:
        written = out[tenant.slug]
        assert written.read_text() == kc.synapse_oidc(plan, tenant, secrets[tenant.slug])
        assert written.stat().st_mode & 0o777 == 0o600
        assert "password_config:\n  enabled: false" in written.read_text()


def test_role_writes_no_oidc_file_without_keycloak(tmp_path: Path) -> None:
    _, _, out = run_role_task(tmp_path, keycloak=False)
    assert not any(path.exists() for path in out.values())


def test_role_task_writes_where_the_pyinfra_deploy_does(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "inventories/ansible/plugins/inventory"))
    from counselkit_plan import host_data

    tenants, plan = plan_with_keycloak(tmp_path, keycloak=True)
    data = host_data(plan, plan.hosts[0], tenants)["counselkit_keycloak"]["synapse_oidc"]
    task = oidc_task()
    assert task["ansible.builtin.template"]["dest"] == "{{ synapse_oidc.path }}"
    assert (task["ansible.builtin.template"]["owner"], task["ansible.builtin.template"]["mode"]) == \
        ("{{ item.unix_user }}", "0600")
    for tenant in plan.hosts[0].tenants:
        assert data[tenant.slug]["path"] == layout.synapse_oidc_config(tenant.slug)
        assert data[tenant.slug]["secret_ref"] == tenant.secrets["oidc_client_secret"]
        assert "client_secret" not in data[tenant.slug]["context"]


def test_a_changed_oidc_file_restarts_the_tenant() -> None:
    """The task's results name the tenant's restart handler (test_component_parity runs that selection)."""
    task = oidc_task()
    changed = YAML(typ="safe").load((REPO / "roles/synapse/vars/main.yml").read_text())["synapse_changed_handlers"]
    assert task["register"] == "synapse_oidc_results"
    assert "synapse_oidc_results.results" in changed and "'extract', synapse_restart_handlers" in changed
