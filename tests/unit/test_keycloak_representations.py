"""Realm, client, user and flow representations for Keycloak's Admin REST API, checked against its schema."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest

from counselkit import layout
from counselkit.keycloak import representations as reps
from counselkit.model.tenant import OrgAdmin
from counselkit.plan import load_plan
from tests.support import example_data, write_yaml


@pytest.fixture
def plan(tmp_path: Path):
    return load_plan(write_yaml(tmp_path / "tenants.yaml", example_data()))


@pytest.fixture
def smtp_plan(tmp_path: Path):
    data = example_data()
    data["platform"]["smtp"] = {"host": "smtp.example.org", "from_address": "noreply@beratung.example.org", "user": "mailer"}
    return load_plan(write_yaml(tmp_path / "tenants.yaml", data))


def validate(kind: str, value: dict) -> None:
    schema = reps.schema()
    jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"}).validate(value)


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(reps.schema())


def test_realm_per_tenant(plan) -> None:
    for tenant in plan.tenants():
        realm = reps.realm_representation(plan, tenant)
        validate("RealmRepresentation", realm)
        assert realm["realm"] == tenant.slug == tenant.keycloak_realm
        assert realm["displayName"] == tenant.tenant.name
        assert tenant.tenant.branding.primary_color in realm["displayNameHtml"]
        assert realm["loginTheme"] == f"counselkit-{tenant.slug}"
        assert realm["registrationAllowed"] is False
        assert realm["bruteForceProtected"] is True and realm["failureFactor"] == 5
        assert "length(12)" in realm["passwordPolicy"] and "notUsername" in realm["passwordPolicy"]
        assert realm["otpPolicyType"] == "totp"
        assert realm["sslRequired"] == "external"
        assert realm["attributes"]["frontendUrl"] == f"https://{tenant.domain}/auth"
        assert "smtpServer" not in realm and realm["resetPasswordAllowed"] is False


def test_realm_display_name_is_escaped(tmp_path: Path) -> None:
    data = example_data()
    data["tenants"][0]["name"] = "A & B <script>"
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    html = reps.realm_representation(plan, plan.tenants()[0])["displayNameHtml"]
    assert "<script>" not in html and "&amp;" in html


def test_realm_smtp(smtp_plan) -> None:
    tenant = smtp_plan.tenants()[0]
    with pytest.raises(reps.RepresentationError):
        reps.realm_representation(smtp_plan, tenant)  # user set, no password
    realm = reps.realm_representation(smtp_plan, tenant, smtp_password="s3cret-value")
    validate("RealmRepresentation", realm)
    smtp = realm["smtpServer"]
    assert smtp == {"host": "smtp.example.org", "port": "587", "from": "noreply@beratung.example.org",
                    "fromDisplayName": tenant.tenant.name, "ssl": "false", "starttls": "true", "auth": "true",
                    "user": "mailer", "password": "s3cret-value"}
    assert realm["resetPasswordAllowed"] is True


def test_synapse_client(plan) -> None:
    tenant = plan.tenants()[1]
    client = reps.synapse_client_representation(tenant, "client-secret-value")
    validate("ClientRepresentation", client)
    assert client["clientId"] == tenant.oidc_client_id
    assert client["redirectUris"] == [f"https://{tenant.domain}/_synapse/client/oidc/callback"]
    assert client["publicClient"] is False and client["secret"] == "client-secret-value"
    assert client["directAccessGrantsEnabled"] is False and client["implicitFlowEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["attributes"]["backchannel.logout.url"] == f"http://127.0.0.1:{tenant.synapse_port}/_synapse/client/oidc/backchannel_logout"
    with pytest.raises(reps.RepresentationError):
        reps.synapse_client_representation(tenant, "")


def test_clients_of_different_tenants_never_share_redirects(plan) -> None:
    uris = [reps.synapse_client_representation(t, "x")["redirectUris"][0] for t in plan.tenants()]
    assert len(set(uris)) == len(uris)
    issuers = [reps.issuer(t) for t in plan.tenants()]
    assert len(set(issuers)) == len(issuers)


def test_org_admin_accounts(plan) -> None:
    tenant = plan.tenant("diakonie-luebeck")
    usernames = reps.org_admin_usernames(tenant)
    assert list(usernames) == ["m.krueger", "s.yilmaz"]
    new = reps.org_admin_representation("m.krueger", usernames["m.krueger"], new=True)
    validate("UserRepresentation", new)
    assert new["requiredActions"] == ["UPDATE_PASSWORD", "CONFIGURE_TOTP", "VERIFY_EMAIL"]
    assert (new["firstName"], new["lastName"]) == ("Martin", "Krüger")
    update = reps.org_admin_representation("m.krueger", usernames["m.krueger"], new=False)
    assert "requiredActions" not in update  # an update never re-imposes actions already done


def test_org_admin_usernames_are_matrix_localparts_and_unique() -> None:
    admins = [OrgAdmin(name="Jörg Ä", email="Jörg.Ä+x@a.example"), OrgAdmin(name="Jorg A", email="jorg.a+x@b.example")]
    taken: set[str] = set()
    names = []
    for admin in admins:
        names.append(reps.org_admin_username(admin, taken))
        taken.add(names[-1])
    assert names == ["jorg.a-x", "jorg.a-x-2"]
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyz0123456789._=-") for n in names)


def test_check_rejects_unknown_fields_and_wrong_types(plan) -> None:
    tenant = plan.tenants()[0]
    realm = reps.realm_representation(plan, tenant)
    with pytest.raises(reps.RepresentationError, match="unknown field 'bruteForceProtection'"):
        reps.check("RealmRepresentation", dict(realm, bruteForceProtection=True))
    with pytest.raises(reps.RepresentationError, match="expected integer"):
        reps.check("RealmRepresentation", dict(realm, failureFactor="5"))
    with pytest.raises(reps.RepresentationError, match="smtpServer/port"):
        reps.check("RealmRepresentation", dict(realm, smtpServer={"port": 587}))
    with pytest.raises(reps.RepresentationError, match="not one of"):
        reps.check("RealmRepresentation", dict(realm, sslRequired="sometimes"))


# What GET /admin/realms/{realm}/authentication/flows/counselkit%20browser/executions returns after copying
# Keycloak 26's built-in browser flow (flat list with levels).
BROWSER_COPY = [
    {"id": "1", "requirement": "ALTERNATIVE", "displayName": "Cookie", "providerId": "auth-cookie", "level": 0, "index": 0},
    {"id": "2", "requirement": "DISABLED", "displayName": "Kerberos", "providerId": "auth-spnego", "level": 0, "index": 1},
    {"id": "3", "requirement": "ALTERNATIVE", "displayName": "Identity Provider Redirector", "providerId": "identity-provider-redirector", "level": 0, "index": 2},
    {"id": "4", "requirement": "ALTERNATIVE", "displayName": "counselkit browser forms", "authenticationFlow": True, "level": 0, "index": 3},
    {"id": "5", "requirement": "REQUIRED", "displayName": "Username Password Form", "providerId": "auth-username-password-form", "level": 1, "index": 0},
    {"id": "6", "requirement": "CONDITIONAL", "displayName": "counselkit browser Browser - Conditional OTP", "authenticationFlow": True, "level": 1, "index": 1},
    {"id": "7", "requirement": "REQUIRED", "displayName": "Condition - user configured", "providerId": "conditional-user-configured", "level": 2, "index": 0},
    {"id": "8", "requirement": "REQUIRED", "displayName": "OTP Form", "providerId": "auth-otp-form", "level": 2, "index": 1},
]


def test_otp_becomes_required_for_everyone() -> None:
    changes = reps.otp_flow_changes(copy.deepcopy(BROWSER_COPY))
    assert {c["id"]: c["requirement"] for c in changes} == {"6": "REQUIRED", "7": "DISABLED"}
    for change in changes:
        validate("AuthenticationExecutionInfoRepresentation", change)


def test_otp_flow_changes_are_idempotent() -> None:
    applied = copy.deepcopy(BROWSER_COPY)
    for change in reps.otp_flow_changes(applied):
        next(e for e in applied if e["id"] == change["id"])["requirement"] = change["requirement"]
    assert reps.otp_flow_changes(applied) == []


def test_otp_flow_without_otp_form_fails_loudly() -> None:
    with pytest.raises(reps.RepresentationError, match="no OTP form"):
        reps.otp_flow_changes(BROWSER_COPY[:5])


def test_required_actions() -> None:
    totp = {"alias": "CONFIGURE_TOTP", "name": "Configure OTP", "providerId": "CONFIGURE_TOTP", "enabled": True,
            "defaultAction": False, "priority": 10, "config": {}}
    update = reps.required_action_update(totp)
    assert update is not None and update["defaultAction"] is True and update["enabled"] is True
    validate("RequiredActionProviderRepresentation", update)
    assert reps.required_action_update(update) is None
    assert reps.required_action_update({"alias": "TERMS_AND_CONDITIONS", "enabled": False}) is None
    verify = reps.required_action_update({"alias": "VERIFY_EMAIL", "enabled": False, "defaultAction": False})
    assert verify == {"alias": "VERIFY_EMAIL", "enabled": True, "defaultAction": False}


def test_layout_names() -> None:
    assert layout.keycloak_theme("awo-kiel") == "counselkit-awo-kiel"
    assert layout.synapse_oidc_config("awo-kiel").endswith("/awo-kiel/oidc.yaml")
