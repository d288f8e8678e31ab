"""Make each tenant's realm what tenants.yaml says, idempotently, through the Admin REST API (python-keycloak).

Runs on the control machine (the deploy calls it after Keycloak is healthy; see deploy/keycloak.py) against
the host's loopback Keycloak through an SSH tunnel. It never deletes a realm or an account: org admins who
left tenants.yaml lose their admin roles and are disabled; counsellor accounts belong to the centre.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import layout
from ..plan import Plan, TenantPlan
from . import representations as reps
from .accounts import collect

if TYPE_CHECKING:
    from keycloak import KeycloakAdmin

SecretGetter = Callable[[str], str]
INVITE_LIFESPAN_SECONDS = 7 * 24 * 3600


@dataclass
class RealmResult:
    slug: str
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seats_used: int = 0
    seats_licensed: int = 0

    def lines(self) -> list[str]:
        head = f"{self.slug}: {', '.join(self.changes) if self.changes else 'unchanged'}; seats {self.seats_used}/{self.seats_licensed}"
        return [head, *(f"{self.slug}: WARNING {w}" for w in self.warnings)]


def _realm_names(admin: "KeycloakAdmin") -> set[str]:
    admin.change_current_realm("master")
    return {r.get("realm") for r in admin.get_realms()}


def ensure_realm(admin: "KeycloakAdmin", plan: Plan, tenant: TenantPlan, secret: SecretGetter, result: RealmResult) -> None:
    smtp = plan.platform.smtp
    smtp_password = secret(layout.platform_secret_ref(layout.KEYCLOAK_SMTP_PASSWORD_SECRET)) if smtp and smtp.user else None
    representation = reps.realm_representation(plan, tenant, smtp_password)
    if tenant.keycloak_realm not in _realm_names(admin):
        admin.create_realm(representation)
        result.changes.append("realm created")
    else:
        admin.update_realm(tenant.keycloak_realm, representation)  # PUT of our fields: idempotent
    admin.change_current_realm(tenant.keycloak_realm)


def ensure_roles(admin: "KeycloakAdmin", result: RealmResult) -> None:
    existing = {r["name"] for r in admin.get_realm_roles()}
    for name, description in reps.REALM_ROLES.items():
        if name not in existing:
            admin.create_realm_role(reps.role_representation(name, description), skip_exists=True)
            result.changes.append(f"role {name} created")


def ensure_required_actions(admin: "KeycloakAdmin", result: RealmResult) -> None:
    for action in admin.get_required_actions():
        update = reps.required_action_update(action)
        if update is not None:
            admin.update_required_action(action["alias"], update)
            result.changes.append(f"required action {action['alias']} set")


def ensure_otp_flow(admin: "KeycloakAdmin", tenant: TenantPlan, result: RealmResult) -> None:
    alias = layout.KEYCLOAK_BROWSER_FLOW
    if alias not in {f.get("alias") for f in admin.get_authentication_flows()}:
        admin.copy_authentication_flow({"newName": alias}, "browser")
        result.changes.append("OTP browser flow created")
    for change in reps.otp_flow_changes(admin.get_authentication_flow_executions(alias)):
        admin.update_authentication_flow_executions(change, alias)
        result.changes.append(f"flow step '{change.get('displayName', change['id'])}' -> {change['requirement']}")
    admin.change_current_realm("master")
    realm = admin.get_realm(tenant.keycloak_realm)
    if realm.get("browserFlow") != alias:
        admin.update_realm(tenant.keycloak_realm, reps.check("RealmRepresentation",
                                                             {"realm": tenant.keycloak_realm, "browserFlow": alias}))
        result.changes.append("OTP browser flow bound")
    admin.change_current_realm(tenant.keycloak_realm)


def ensure_synapse_client(admin: "KeycloakAdmin", tenant: TenantPlan, secret: SecretGetter, result: RealmResult) -> None:
    representation = reps.synapse_client_representation(tenant, secret(tenant.secrets["oidc_client_secret"]))
    client_uuid = admin.get_client_id(tenant.oidc_client_id)
    if client_uuid is None:
        admin.create_client(representation)
        result.changes.append("Synapse client created")
    else:
        admin.update_client(client_uuid, representation)


def _find_user(admin: "KeycloakAdmin", username: str) -> dict[str, Any] | None:
    found = admin.get_users({"username": username, "exact": True, "briefRepresentation": False})
    return next((u for u in found if u.get("username") == username), None)


def ensure_org_admins(admin: "KeycloakAdmin", plan: Plan, tenant: TenantPlan, result: RealmResult) -> None:
    org_role = admin.get_realm_role(layout.KEYCLOAK_ORG_ADMIN_ROLE)
    management = admin.get_client_id(reps.REALM_MANAGEMENT_CLIENT)
    management_roles = [admin.get_client_role(management, name) for name in reps.ORG_ADMIN_MANAGEMENT_ROLES]
    wanted = reps.org_admin_usernames(tenant)
    for username, person in wanted.items():
        user = _find_user(admin, username)
        if user is None:
            user_id = admin.create_user(reps.org_admin_representation(username, person, new=True))
            result.changes.append(f"org admin {username} created")
            if plan.platform.smtp is not None:
                admin.send_update_account(user_id, list(reps.ORG_ADMIN_REQUIRED_ACTIONS), lifespan=INVITE_LIFESPAN_SECONDS)
                result.changes.append(f"invitation mailed to {username}")
            else:
                result.warnings.append(f"no platform.smtp: org admin {username} got no invitation mail; "
                                       "set platform.smtp or give a temporary password in the admin console")
        else:
            user_id = user["id"]
            update = reps.org_admin_representation(username, person, new=False)
            if any(user.get(k) != v for k, v in update.items()):
                admin.update_user(user_id, update)
                result.changes.append(f"org admin {username} updated")
        if org_role["name"] not in {r["name"] for r in admin.get_realm_roles_of_user(user_id)}:
            admin.assign_realm_roles(user_id, [org_role])
        have = {r["name"] for r in admin.get_client_roles_of_user(user_id, management)}
        missing = [r for r in management_roles if r["name"] not in have]
        if missing:
            admin.assign_client_role(user_id, management, missing)
    for member in admin.get_realm_role_members(layout.KEYCLOAK_ORG_ADMIN_ROLE):
        if member.get("username") in wanted:
            continue
        admin.delete_realm_roles_of_user(member["id"], [org_role])
        admin.delete_client_roles_of_user(member["id"], management, management_roles)
        admin.disable_user(member["id"])
        result.changes.append(f"former org admin {member.get('username')} disabled")


def provision_tenant(admin: "KeycloakAdmin", plan: Plan, tenant: TenantPlan, secret: SecretGetter) -> RealmResult:
    result = RealmResult(slug=tenant.slug, seats_licensed=tenant.tenant.seats)
    ensure_realm(admin, plan, tenant, secret, result)
    ensure_roles(admin, result)
    ensure_required_actions(admin, result)
    ensure_otp_flow(admin, tenant, result)
    ensure_synapse_client(admin, tenant, secret, result)
    ensure_org_admins(admin, plan, tenant, result)
    access = collect(admin, tenant)
    result.seats_used = access.seats_used
    if access.over_seats:
        result.warnings.append(f"{access.seats_used} counsellor accounts for {tenant.tenant.seats} licensed seats "
                               f"({access.over_seats} over): raise seats in tenants.yaml or disable accounts")
    admin.change_current_realm("master")
    return result


def provision_host(admin: "KeycloakAdmin", plan: Plan, host_name: str, secret: SecretGetter) -> list[RealmResult]:
    """Every tenant on one host; realms of tenants removed from tenants.yaml are left alone (offboarding)."""
    return [provision_tenant(admin, plan, tenant, secret) for tenant in plan.host(host_name).tenants]
