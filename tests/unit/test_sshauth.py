"""Root's keys from the plan, and the refusal to lock out the deploy's own key."""

from __future__ import annotations

from counselkit import render
from counselkit.plan import load_plan
from counselkit.site import SiteOverrides
from counselkit.sshauth import key_id, lockout_problem, planned_keys, session_key
from tests.support import example_data, write_yaml

ADMIN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdminKeyAdminKeyAdminKeyAdminKeyAdminKe admin@example"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKe"


def test_key_id_ignores_options_and_comments():
    assert key_id(f'from="10.0.0.1",no-pty {ADMIN}') == key_id(ADMIN) == " ".join(ADMIN.split()[:2])


def test_session_key_from_expose_auth_info():
    assert session_key(f"publickey {OTHER}\n") == OTHER
    assert session_key("") is None and session_key("password\n") is None


PLATFORM = {"root_keys": [ADMIN], "admins": [{"name": "alice", "ssh_key": ADMIN}]}


def test_lockout_refused_only_when_roots_key_would_go():
    assert lockout_problem(PLATFORM, f"publickey {OTHER}\n", "root", "h1") is not None
    assert "lock the deploy out" in lockout_problem(PLATFORM, f"publickey {OTHER}\n", "root", "h1")
    assert lockout_problem(PLATFORM, f"publickey {key_id(ADMIN)}\n", "root", "h1") is None
    assert lockout_problem(PLATFORM, "", "root", "h1") is None  # sshd does not tell yet: first deploy


def test_lockout_refused_when_the_admin_deploying_would_lose_its_key():
    # The deploy logs in as alice (sudo): her authorized_keys is rewritten with exactly her planned key.
    refused = lockout_problem(PLATFORM, f"publickey {OTHER}\n", "alice", "h1")
    assert refused is not None and "admin 'alice'" in refused and "Nothing has been changed" in refused
    assert lockout_problem(PLATFORM, f"publickey {key_id(ADMIN)}\n", "alice", "h1") is None
    # root's keys do not help an admin login, and a user the plan does not manage keeps no key at all
    other_root = {**PLATFORM, "root_keys": [ADMIN, OTHER]}
    assert lockout_problem(other_root, f"publickey {OTHER}\n", "alice", "h1") is not None
    assert planned_keys(PLATFORM, "alice") == [ADMIN] and planned_keys(PLATFORM, "bob") == []


def test_root_keys_are_the_admins_keys_plus_the_sites(tmp_path):
    data = example_data()
    path = write_yaml(tmp_path / "tenants.yaml", data)
    admins = [a["ssh_key"] for a in data["platform"]["admins"]]
    plan = load_plan(path)
    host = plan.hosts[0]
    assert render.host_vars(plan, host)["platform"]["root_keys"] == admins
    site_plan = load_plan(path, site=SiteOverrides(root_keys=(OTHER, admins[0])))
    assert render.host_vars(site_plan, site_plan.hosts[0])["platform"]["root_keys"] == [*admins, OTHER]

