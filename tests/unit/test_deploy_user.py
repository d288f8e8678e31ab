"""Who the deploy logs in as (platform.hosts[].ssh_user): root for a host's first run, else an admin with sudo —
decided once by the plan, read by pyinfra (_sudo), Ansible (ansible_become), sshd_config and the audit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


from counselkit import layout, render
from counselkit.audit.checks import ssh_root_login_off
from counselkit.audit.context import CheckContext, Target
from counselkit.audit.guard import Transcript
from counselkit.plan import load_plan
from tests.support import REPO, example_data, write_yaml

ADMIN = example_data()["platform"]["admins"][0]["name"]


def tenants(tmp_path: Path, ssh_user: str | None) -> Path:
    data = example_data()
    if ssh_user is not None:
        data["platform"]["hosts"][0]["ssh_user"] = ssh_user
    return write_yaml(tmp_path / "tenants.yaml", data)


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "counselkit.cli", "validate", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def sshd_directives(plan) -> dict[str, str]:
    context = render.host_context(render.host_vars(plan, plan.hosts[0]), None)
    text = render.render("base/sshd_config.j2", context)
    return dict(line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))


def test_a_deploy_user_who_is_no_admin_is_refused_with_file_line_and_field(tmp_path):
    path = tenants(tmp_path, "mallory")
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "ssh_user: mallory" in text)
    result = validate(path)
    assert result.returncode != 0
    assert f"{path}:{line}:" in result.stderr and "platform.hosts[0].ssh_user: ssh_user 'mallory' is not an admin" \
        in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_root_and_admins_are_valid_deploy_users(tmp_path):
    for user in ("root", ADMIN):
        result = validate(tenants(tmp_path, user))
        assert result.returncode == 0, result.stderr


def test_root_deploys_without_sudo_and_keeps_root_login_by_key(tmp_path):
    plan = load_plan(tenants(tmp_path, None))  # the default: a host's first (bootstrap) run
    host = plan.hosts[0]
    assert (host.ssh_user, host.sudo, host.permit_root_login) == ("root", False, "prohibit-password")
    assert sshd_directives(plan)["PermitRootLogin"] == "prohibit-password"


def test_an_admin_deploys_with_sudo_and_root_login_is_off(tmp_path):
    plan = load_plan(tenants(tmp_path, ADMIN))
    host = plan.hosts[0]
    assert (host.ssh_user, host.sudo, host.permit_root_login) == (ADMIN, True, "no")
    assert render.host_vars(plan, host)["host"] | {} == {
        "name": host.name, "address": host.address, "ssh_user": ADMIN, "sudo": True, "permit_root_login": "no"}
    directives = sshd_directives(plan)
    assert directives["PermitRootLogin"] == "no"
    assert layout.ADMIN_GROUP in directives["AllowGroups"].split()  # the admin's way in stays open


def test_pyinfra_inventory_sudo_follows_the_plan(tmp_path, monkeypatch):
    from inventories import common

    from counselkit.prepare import prepare

    path = tenants(tmp_path, ADMIN)
    monkeypatch.setenv(common.TENANTS_ENV, str(path))
    monkeypatch.setenv("COUNSELKIT_VAULT_PASSWORD", "unit-test-vault-password")
    prepare(path)  # inventories only read: the lock and secrets must be there first
    (name, data), *others = common.pyinfra_hosts(None)
    assert (data["ssh_user"], data["_sudo"]) == (ADMIN, True)
    assert all(d["_sudo"] is False and d["ssh_user"] == "root" for _, d in others)
    assert data["_temp_dir"] == f"/home/{ADMIN}" and all("_temp_dir" not in d for _, d in others)


def test_ansible_inventory_become_follows_the_plan(tmp_path):
    sys.path.insert(0, str(REPO / "inventories/ansible/plugins/inventory"))
    from counselkit_plan import host_data

    path = tenants(tmp_path, ADMIN)
    plan = load_plan(path)
    first, *others = (host_data(plan, h, path) for h in plan.hosts)
    assert (first["ansible_user"], first["ansible_become"]) == (ADMIN, True)
    assert all(d["ansible_user"] == "root" and d["ansible_become"] is False for d in others)


class _Host:  # the check reads only ctx.sshd, given below
    pass


def _audit(plan, permitrootlogin: str):
    host = plan.hosts[0]
    ctx = CheckContext(_Host(), Target(host.name, "local://", host.address, host), plan, Transcript())
    ctx.__dict__["sshd"] = {"permitrootlogin": permitrootlogin}  # the cached `sshd -T`
    return ssh_root_login_off(ctx)


def test_audit_flags_root_login(tmp_path):
    admin_plan, root_plan = load_plan(tenants(tmp_path, ADMIN)), load_plan(tenants(tmp_path / "..", None))
    assert _audit(admin_plan, "no").status == "pass"
    drift = _audit(admin_plan, "without-password")
    assert drift.status == "fail" and "permitrootlogin without-password" in drift.found
    bootstrap = _audit(root_plan, "without-password")  # the plan itself still deploys as root: flagged
    assert bootstrap.status == "na" and bootstrap.reason.startswith("not applicable") and "ssh_user" in bootstrap.reason


def test_ansible_lockout_filter_checks_the_deploying_admins_keys(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("counselkit_filters", REPO / "inventories/ansible/plugins/filter/counselkit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lockout = module.FilterModule().filters()["counselkit_lockout_problem"]
    plan = load_plan(tenants(tmp_path, ADMIN))
    platform = render.host_vars(plan, plan.hosts[0])["platform"]
    own, other = platform["admins"][0]["ssh_key"], platform["admins"][1]["ssh_key"]
    assert lockout(platform, f"publickey {own}\n", ADMIN, "node1") == ""
    # another admin's key is among root's, but the deploy logs in as ADMIN, whose file holds only ADMIN's key
    assert "would lock the deploy out" in lockout(platform, f"publickey {other}\n", ADMIN, "node1")
    assert lockout(platform, f"publickey {other}\n", "root", "node1") == ""


def test_audit_logs_in_as_the_deploy_user_and_uses_sudo_for_an_admin(tmp_path, monkeypatch):
    from counselkit.audit.targets import production_targets
    from counselkit.prepare import prepare

    monkeypatch.setenv("COUNSELKIT_VAULT_PASSWORD", "unit-test-vault-password")
    path = tenants(tmp_path, ADMIN)
    prepare(path)  # the audit only reads: the lock must be there
    _, (first, *others) = production_targets(path)
    assert first.hostspec.startswith(f"ssh://{ADMIN}@") and first.sudo is True
    assert all(t.hostspec.startswith("ssh://root@") and t.sudo is False for t in others)
