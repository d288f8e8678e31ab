"""A tenant's realm and its Synapse OIDC client, and the URLs they are reached by."""

from __future__ import annotations

from typing import Any

from ... import layout
from ...model.platform import Smtp
from ...plan import Plan, TenantPlan

from .schema import RepresentationError, check
from .policy import PASSWORD_POLICY, BRUTE_FORCE, OTP_POLICY, SESSIONS, EVENTS_EXPIRATION_SECONDS


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

def role_representation(name: str, description: str) -> dict[str, Any]:
    return check("RoleRepresentation", {"name": name, "description": description})
