"""Provisioning against an in-memory stand-in of python-keycloak's KeycloakAdmin: creates, then changes nothing."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest

from counselkit.keycloak import provision
from counselkit.keycloak.accounts import collect
from counselkit.plan import load_plan
from tests.support import example_data, write_yaml
from tests.unit.test_keycloak_representations import BROWSER_COPY

REQUIRED_ACTIONS = [
    {"alias": a, "name": a, "providerId": a, "enabled": a != "VERIFY_EMAIL", "defaultAction": False, "priority": i, "config": {}}
    for i, a in enumerate(["CONFIGURE_TOTP", "UPDATE_PASSWORD", "VERIFY_EMAIL", "TERMS_AND_CONDITIONS"])
]


class FakeAdmin:
    """The subset of KeycloakAdmin that counselkit uses, with Keycloak's semantics for it."""

    def __init__(self) -> None:
        self.realm = "master"
        self.realms: dict[str, dict] = {"master": {"realm": "master"}}
        self.data: dict[str, dict] = {}
        self.ids = (f"id-{n}" for n in itertools.count())
        self.writes: list[str] = []
        self.mails: list[str] = []

    def _r(self) -> dict:
        return self.data[self.realm]

    def change_current_realm(self, name: str) -> None:
        self.realm = name

    def get_realms(self): return list(self.realms.values())
    def get_realm(self, name): return copy.deepcopy(self.realms[name])

    def create_realm(self, payload, skip_exists=False):
        self.writes.append("create_realm")
        self.realms[payload["realm"]] = copy.deepcopy(payload)
        self.data[payload["realm"]] = {
            "roles": {}, "users": {}, "clients": {"rm": {"clientId": "realm-management", "id": "rm"}},
            "client_roles": {n: {"name": n, "id": n} for n in ("manage-users", "view-users", "query-users", "query-groups")},
            "user_roles": {}, "user_client_roles": {}, "flows": {"browser": []},
            "required": copy.deepcopy(REQUIRED_ACTIONS), "credentials": {},
        }

    def update_realm(self, name, payload):
        if any(self.realms[name].get(k) != v for k, v in payload.items()):
            self.writes.append(f"update_realm {sorted(k for k, v in payload.items() if self.realms[name].get(k) != v)}")
        self.realms[name].update(copy.deepcopy(payload))

    def get_realm_roles(self, **_): return list(self._r()["roles"].values())
    def create_realm_role(self, payload, skip_exists=False):
        self.writes.append("create_role")
        self._r()["roles"][payload["name"]] = dict(payload, id=next(self.ids))
    def get_realm_role(self, name): return self._r()["roles"][name]
    def get_realm_role_members(self, name, query=None):
        return [u for uid, u in self._r()["users"].items() if name in self._r()["user_roles"].get(uid, set())]

    def get_required_actions(self): return copy.deepcopy(self._r()["required"])
    def update_required_action(self, alias, payload):
        self.writes.append(f"required {alias}")
        self._r()["required"] = [payload if a["alias"] == alias else a for a in self._r()["required"]]

    def get_authentication_flows(self): return [{"alias": a} for a in self._r()["flows"]]
    def copy_authentication_flow(self, payload, flow_alias):
        self.writes.append("copy_flow")
        self._r()["flows"][payload["newName"]] = copy.deepcopy(BROWSER_COPY)
    def get_authentication_flow_executions(self, alias): return copy.deepcopy(self._r()["flows"][alias])
    def update_authentication_flow_executions(self, payload, alias):
        self.writes.append("update_execution")
        for e in self._r()["flows"][alias]:
            if e["id"] == payload["id"]:
                e["requirement"] = payload["requirement"]

    def get_client_id(self, client_id):
        return next((c["id"] for c in self._r()["clients"].values() if c["clientId"] == client_id), None)
    def create_client(self, payload, skip_exists=False):
        self.writes.append("create_client")
        cid = next(self.ids)
        self._r()["clients"][cid] = dict(payload, id=cid)
    def update_client(self, cid, payload):
        if any(self._r()["clients"][cid].get(k) != v for k, v in payload.items()):
            self.writes.append("update_client")
        self._r()["clients"][cid].update(payload)
    def get_client_role(self, cid, name): return self._r()["client_roles"][name]

    def get_users(self, query=None):
        users = list(self._r()["users"].values())
        if query and "username" in query:
            users = [u for u in users if u["username"] == query["username"]]
        return copy.deepcopy(users)
    def create_user(self, payload, exist_ok=False):
        self.writes.append(f"create_user {payload['username']}")
        uid = next(self.ids)
        self._r()["users"][uid] = dict(payload, id=uid, createdTimestamp=1767225600000)
        return uid
    def update_user(self, uid, payload):
        self.writes.append("update_user")
        self._r()["users"][uid].update(payload)
    def disable_user(self, uid):
        self.writes.append("disable_user")
        self._r()["users"][uid]["enabled"] = False
    def send_update_account(self, uid, payload, client_id=None, lifespan=None, redirect_uri=None):
        self.mails.append(uid)
    def get_realm_roles_of_user(self, uid): return [{"name": n} for n in self._r()["user_roles"].get(uid, set())]
    def assign_realm_roles(self, uid, roles):
        self.writes.append("assign_role")
        self._r()["user_roles"].setdefault(uid, set()).update(r["name"] for r in roles)
    def delete_realm_roles_of_user(self, uid, roles):
        self.writes.append("delete_role")
        self._r()["user_roles"].get(uid, set()).difference_update(r["name"] for r in roles)
    def get_client_roles_of_user(self, uid, cid): return [{"name": n} for n in self._r()["user_client_roles"].get(uid, set())]
    def assign_client_role(self, uid, cid, roles):
        self.writes.append("assign_client_role")
        self._r()["user_client_roles"].setdefault(uid, set()).update(r["name"] for r in roles)
    def delete_client_roles_of_user(self, uid, cid, roles):
        self._r()["user_client_roles"].get(uid, set()).difference_update(r["name"] for r in roles)
    def get_credentials(self, uid): return self._r()["credentials"].get(uid, [])


SECRETS = {"platform.keycloak_admin_password": "admin-pw"}


def secret(ref: str) -> str:
    return SECRETS.get(ref, f"generated-{ref}")


@pytest.fixture
def plan(tmp_path: Path):
    return load_plan(write_yaml(tmp_path / "tenants.yaml", example_data()))


def test_first_run_creates_everything(plan) -> None:
    admin = FakeAdmin()
    results = provision.provision_host(admin, plan, "node1", secret)
    assert [r.slug for r in results] == ["awo-kiel", "diakonie-luebeck", "skf-husum"]
    realm = admin.data["diakonie-luebeck"]
    assert admin.realms["diakonie-luebeck"]["browserFlow"] == "counselkit browser"
    assert {e["id"]: e["requirement"] for e in realm["flows"]["counselkit browser"]}["6"] == "REQUIRED"
    [client] = [c for c in realm["clients"].values() if c["clientId"] == "synapse"]
    assert client["secret"] == "generated-tenants.diakonie-luebeck.oidc_client_secret"
    users = {u["username"]: u for u in realm["users"].values()}
    assert set(users) == {"m.krueger", "s.yilmaz"}
    assert users["m.krueger"]["requiredActions"] == ["UPDATE_PASSWORD", "CONFIGURE_TOTP", "VERIFY_EMAIL"]
    uid = users["m.krueger"]["id"]
    assert realm["user_roles"][uid] == {"org-admin"}
    assert realm["user_client_roles"][uid] == {"manage-users", "view-users", "query-users", "query-groups"}
    totp = next(a for a in realm["required"] if a["alias"] == "CONFIGURE_TOTP")
    assert totp["defaultAction"] is True
    assert any("no platform.smtp" in w for w in results[1].warnings)  # no invitation mail possible
    assert results[1].seats_used == 0 and results[1].seats_licensed == 8


def test_second_run_changes_nothing(plan) -> None:
    admin = FakeAdmin()
    provision.provision_host(admin, plan, "node1", secret)
    admin.writes.clear()
    results = provision.provision_host(admin, plan, "node1", secret)
    assert admin.writes == []
    assert all(r.changes == [] for r in results)


def test_removed_org_admin_is_disabled_not_deleted(plan, tmp_path: Path) -> None:
    admin = FakeAdmin()
    provision.provision_host(admin, plan, "node1", secret)
    data = example_data()
    data["tenants"][1]["admins"] = data["tenants"][1]["admins"][:1]
    smaller = load_plan(write_yaml(tmp_path / "t2.yaml", data))
    result = provision.provision_tenant(admin, smaller, smaller.tenant("diakonie-luebeck"), secret)
    users = {u["username"]: u for u in admin.data["diakonie-luebeck"]["users"].values()}
    assert users["s.yilmaz"]["enabled"] is False
    assert admin.data["diakonie-luebeck"]["user_roles"][users["s.yilmaz"]["id"]] == set()
    assert "former org admin s.yilmaz disabled" in result.changes


def test_seat_overrun_is_reported(plan) -> None:
    admin = FakeAdmin()
    provision.provision_host(admin, plan, "node1", secret)
    admin.change_current_realm("skf-husum")  # 4 seats
    for n in range(5):
        admin.create_user({"username": f"berater{n}", "enabled": True})
    admin.create_user({"username": "disabled", "enabled": False})
    result = provision.provision_tenant(admin, plan, plan.tenant("skf-husum"), secret)
    assert result.seats_used == 5
    assert any("5 counsellor accounts for 4 licensed seats (1 over)" in w for w in result.warnings)
    access = collect(admin, plan.tenant("skf-husum"))
    assert (access.seats_used, access.over_seats, len(access.accounts)) == (5, 1, 7)
