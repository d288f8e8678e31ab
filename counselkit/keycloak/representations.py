"""What counselkit asks Keycloak's Admin REST API to hold for one tenant: realm, Synapse client, org admin accounts.

Pure functions from the plan to JSON-ready dicts (no network), checked against the representation schema in
representations.schema.json (transcribed from Keycloak's org.keycloak.representations.idm classes).
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import layout
from ..model.platform import Smtp
from ..model.tenant import OrgAdmin
from ..plan import Plan, TenantPlan

SCHEMA_FILE = Path(__file__).with_name("representations.schema.json")

# Realm policy: one place, documented in docs/keycloak.md.
PASSWORD_POLICY = "length(12) and maxLength(128) and notUsername and notEmail and passwordHistory(5)"
BRUTE_FORCE = {
    "bruteForceProtected": True,
    "permanentLockout": False,
    "maxTemporaryLockouts": 0,  # 0 = temporary lockouts only, never permanent (no support call to unlock)
    "bruteForceStrategy": "MULTIPLE",
    "failureFactor": 5,  # failed logins before a lockout
    "waitIncrementSeconds": 60,
    "maxFailureWaitSeconds": 900,
    "minimumQuickLoginWaitSeconds": 60,
    "quickLoginCheckMilliSeconds": 1000,
    "maxDeltaTimeSeconds": 43200,  # failures are forgotten after 12 h
}
OTP_POLICY = {
    "otpPolicyType": "totp",
    "otpPolicyAlgorithm": "HmacSHA1",  # what every authenticator app supports
    "otpPolicyDigits": 6,
    "otpPolicyPeriod": 30,
    "otpPolicyLookAheadWindow": 1,
    "otpPolicyCodeReusable": False,
}
SESSIONS = {
    "ssoSessionIdleTimeout": 30 * 60,
    "ssoSessionMaxLifespan": 10 * 3600,
    "accessTokenLifespan": 300,
    "rememberMe": False,
}
EVENTS_EXPIRATION_SECONDS = layout.LOG_RETENTION_DAYS * 24 * 3600  # login events hold IP addresses (data minimisation)
ORG_ADMIN_REQUIRED_ACTIONS = ("UPDATE_PASSWORD", "CONFIGURE_TOTP", "VERIFY_EMAIL")
# Client roles of the realm-management client an org admin needs to manage the counsellor accounts of its realm.
ORG_ADMIN_MANAGEMENT_ROLES = ("manage-users", "view-users", "query-users", "query-groups")
REALM_MANAGEMENT_CLIENT = "realm-management"
OTP_AUTHENTICATOR = "auth-otp-form"
_LOCALPART_INVALID = re.compile(r"[^a-z0-9._=-]")


class RepresentationError(ValueError):
    """A representation counselkit built would be rejected by Keycloak (a bug here, never user input)."""


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def check(kind: str, representation: dict[str, Any]) -> dict[str, Any]:
    """Validate against the representation schema; returns the representation unchanged."""
    problem = _validate(representation, {"$ref": f"#/$defs/{kind}"}, "")
    if problem:
        where, message = problem
        raise RepresentationError(f"{kind} would be rejected by Keycloak at {where or '(top)'}: {message}")
    return representation


_JSON_TYPES = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}


def _validate(value: Any, rule: dict[str, Any], where: str) -> tuple[str, str] | None:
    """The subset of JSON Schema the representation schema uses ($ref, type, properties, required, enum, items)."""
    if "$ref" in rule:
        rule = schema()["$defs"][rule["$ref"].rsplit("/", 1)[1]]
    expected = rule.get("type")
    if expected:
        python_type = _JSON_TYPES[expected]
        if not isinstance(value, python_type) or (expected == "integer" and isinstance(value, bool)):
            return where, f"expected {expected}, got {type(value).__name__}"
    if "enum" in rule and value not in rule["enum"]:
        return where, f"{value!r} is not one of {rule['enum']}"
    if expected == "object":
        properties = rule.get("properties", {})
        for name in rule.get("required", []):
            if name not in value:
                return where, f"'{name}' is required"
        for name, item in value.items():
            if name in properties:
                sub = properties[name]
            elif rule.get("additionalProperties") is False:
                return f"{where}/{name}", f"unknown field '{name}'"
            elif isinstance(rule.get("additionalProperties"), dict):
                sub = rule["additionalProperties"]
            else:
                continue
            found = _validate(item, sub, f"{where}/{name}")
            if found:
                return found
    if expected == "array" and "items" in rule:
        for i, item in enumerate(value):
            found = _validate(item, rule["items"], f"{where}/{i}")
            if found:
                return found
    return None


def public_base_url(tenant: TenantPlan) -> str:
    """Where browsers reach Keycloak for this tenant: its own vhost, path /auth (nginx proxies it to loopback)."""
    return f"https://{tenant.domain}{layout.KEYCLOAK_PATH}"


def issuer(tenant: TenantPlan) -> str:
    return f"{public_base_url(tenant)}/realms/{tenant.keycloak_realm}"


def loopback_base_url(plan: Plan) -> str:
    return f"http://{layout.KEYCLOAK_HTTP_HOST}:{plan.keycloak_http_port}{layout.KEYCLOAK_PATH}"


def smtp_server(smtp: Smtp, tenant_name: str, password: str | None) -> dict[str, str]:
    """RealmRepresentation.smtpServer: a string map, as Keycloak stores it."""
    server = {
        "host": smtp.host,
        "port": str(smtp.port),
        "from": str(smtp.from_address),
        "fromDisplayName": smtp.from_name or tenant_name,
        "ssl": "true" if smtp.ssl else "false",
        "starttls": "true" if smtp.starttls else "false",
        "auth": "true" if smtp.user else "false",
    }
    if smtp.reply_to:
        server["replyTo"] = str(smtp.reply_to)
    if smtp.user:
        if not password:
            raise RepresentationError("smtp.user is set but no SMTP password was given")
        server["user"] = smtp.user
        server["password"] = password
    return server


def realm_representation(plan: Plan, tenant: TenantPlan, smtp_password: str | None = None) -> dict[str, Any]:
    """The realm of one tenant. Sent whole on create and on every update (PUT merges the given fields)."""
    t = tenant.tenant
    smtp = plan.platform.smtp
    realm: dict[str, Any] = {
        "realm": tenant.keycloak_realm,
        "enabled": True,
        "displayName": t.name,
        "displayNameHtml": _display_name_html(t.name, t.branding.primary_color),
        "sslRequired": "external",
        "registrationAllowed": False,
        "registrationEmailAsUsername": False,
        "editUsernameAllowed": False,
        "loginWithEmailAllowed": True,
        "duplicateEmailsAllowed": False,
        "verifyEmail": True,
        "resetPasswordAllowed": smtp is not None,  # the reset link goes by mail
        "passwordPolicy": PASSWORD_POLICY,
        **BRUTE_FORCE,
        **OTP_POLICY,
        **SESSIONS,
        "internationalizationEnabled": True,
        "supportedLocales": ["de", "en"],
        "defaultLocale": "de",
        "loginTheme": layout.keycloak_theme(tenant.slug),
        "eventsEnabled": True,
        "eventsExpiration": EVENTS_EXPIRATION_SECONDS,
        "adminEventsEnabled": True,
        "adminEventsDetailsEnabled": False,  # details would copy user data into the event store
        # Pin the realm's public URL: the issuer never depends on a Host header (hostname-strict is off
        # because each tenant reaches Keycloak on its own vhost).
        "attributes": {"frontendUrl": public_base_url(tenant)},
    }
    if smtp is not None:
        realm["smtpServer"] = smtp_server(smtp, t.name, smtp_password)
    return check("RealmRepresentation", realm)


def _display_name_html(name: str, color: str) -> str:
    import html

    return f'<span style="color:{color}">{html.escape(name)}</span>'


def synapse_redirect_uri(tenant: TenantPlan) -> str:
    return f"https://{tenant.domain}/_synapse/client/oidc/callback"


def synapse_backchannel_logout_url(tenant: TenantPlan) -> str:
    # Keycloak calls Synapse directly on loopback (same host): no DNS or TLS needed for the back channel.
    return f"http://127.0.0.1:{tenant.synapse_port}/_synapse/client/oidc/backchannel_logout"


def synapse_client_representation(tenant: TenantPlan, client_secret: str) -> dict[str, Any]:
    """The confidential OIDC client of the tenant's Synapse: code flow with PKCE only, exact redirect URI."""
    if not client_secret:
        raise RepresentationError("the OIDC client secret is empty")
    client = {
        "clientId": tenant.oidc_client_id,
        "name": "Matrix (Synapse)",
        "description": f"Login for https://{tenant.domain}/ (managed by counselkit)",
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": client_secret,
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,  # no password grant: it would bypass OTP
        "serviceAccountsEnabled": False,
        "bearerOnly": False,
        "consentRequired": False,
        "fullScopeAllowed": False,
        "frontchannelLogout": False,
        "rootUrl": f"https://{tenant.domain}",
        "baseUrl": "/",
        "redirectUris": [synapse_redirect_uri(tenant)],
        "webOrigins": [],
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": f"https://{tenant.domain}/*",
            "backchannel.logout.url": synapse_backchannel_logout_url(tenant),
            "backchannel.logout.session.required": "true",
            "backchannel.logout.revoke.offline.tokens": "false",
        },
    }
    return check("ClientRepresentation", client)


def org_admin_username(admin: OrgAdmin, taken: set[str] | None = None) -> str:
    """A Matrix-compatible username from the e-mail's local part (Synapse maps preferred_username to the localpart)."""
    local = str(admin.email).split("@", 1)[0]
    ascii_local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode().lower()
    name = _LOCALPART_INVALID.sub("-", ascii_local).strip("-.") or "admin"
    candidate, n = name, 2
    while taken is not None and candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def org_admin_usernames(tenant: TenantPlan) -> dict[str, OrgAdmin]:
    """username -> org admin, in tenants.yaml order (collisions get -2, -3 ... in that order)."""
    taken: set[str] = set()
    result: dict[str, OrgAdmin] = {}
    for admin in tenant.tenant.admins:
        username = org_admin_username(admin, taken)
        taken.add(username)
        result[username] = admin
    return result


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (name.strip(), "")


def org_admin_representation(username: str, admin: OrgAdmin, new: bool) -> dict[str, Any]:
    """An org admin's account. On creation it carries the required actions; later updates leave them alone."""
    first, last = split_name(admin.name)
    user: dict[str, Any] = {
        "username": username,
        "email": str(admin.email).lower(),
        "firstName": first,
        "lastName": last,
        "enabled": True,
    }
    if new:
        user["emailVerified"] = False
        user["requiredActions"] = list(ORG_ADMIN_REQUIRED_ACTIONS)
    return check("UserRepresentation", user)


def role_representation(name: str, description: str) -> dict[str, Any]:
    return check("RoleRepresentation", {"name": name, "description": description})


REALM_ROLES = {
    layout.KEYCLOAK_ORG_ADMIN_ROLE: "Org admin from tenants.yaml: manages counsellor accounts; not counted as a seat",
}


def required_action_update(current: dict[str, Any]) -> dict[str, Any] | None:
    """The required actions every realm needs enabled; CONFIGURE_TOTP is a default action for new users."""
    alias = current.get("alias")
    wanted = {"CONFIGURE_TOTP": (True, True), "UPDATE_PASSWORD": (True, None), "VERIFY_EMAIL": (True, None)}
    if alias not in wanted:
        return None
    enabled, default = wanted[alias]
    update = dict(current, enabled=enabled)
    if default is not None:
        update["defaultAction"] = default
    if update == current:
        return None
    return check("RequiredActionProviderRepresentation", update)


def otp_flow_changes(executions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Execution updates that make OTP always required in a copy of the built-in browser flow.

    `executions` is GET /authentication/flows/{alias}/executions (flat, with `level`). The copy of "browser"
    holds a conditional sub-flow with the OTP form; it becomes REQUIRED with its conditions DISABLED, so a user
    without OTP must set it up (CONFIGURE_TOTP) and nobody can log in with a password alone.
    """
    changes: list[dict[str, Any]] = []
    for i, execution in enumerate(executions):
        if execution.get("providerId") != OTP_AUTHENTICATOR:
            continue
        level = execution.get("level", 0)
        parent = _parent(executions, i)
        siblings = _children(executions, executions.index(parent)) if parent is not None else []
        if parent is not None and parent.get("requirement") != "REQUIRED":
            changes.append(dict(parent, requirement="REQUIRED"))
        for sibling in siblings:
            if sibling.get("level") == level and str(sibling.get("providerId", "")).startswith("conditional-") \
                    and sibling.get("requirement") != "DISABLED":
                changes.append(dict(sibling, requirement="DISABLED"))
        if execution.get("requirement") != "REQUIRED":
            changes.append(dict(execution, requirement="REQUIRED"))
    if not any(e.get("providerId") == OTP_AUTHENTICATOR for e in executions):
        raise RepresentationError("the browser flow copy has no OTP form; Keycloak's built-in flow changed")
    return [check("AuthenticationExecutionInfoRepresentation", c) for c in changes]


def _parent(executions: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    level = executions[index].get("level", 0)
    for j in range(index - 1, -1, -1):
        if executions[j].get("level", 0) < level:
            return executions[j] if executions[j].get("authenticationFlow") else None
    return None


def _children(executions: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    level = executions[index].get("level", 0)
    children = []
    for execution in executions[index + 1:]:
        if execution.get("level", 0) <= level:
            break
        children.append(execution)
    return children
