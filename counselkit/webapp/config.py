"""Each centre's config.json for the web app: pure data from tenants.yaml and the plan, the same for both engines.

One bundle serves every centre; what differs (name, topics, colours, logo, links, how counsellors log in) is in
this dict, which the deploy writes to the tenant's web root as layout.WEBAPP_CONFIG. It holds no secret: every
value is public on the centre's page anyway."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .. import layout
from ..plan import Plan, TenantPlan

CONFIG_SCHEMA = 1  # raised when a key changes meaning, so an old bundle can tell a config it does not understand
API_VERSION = "v1"  # the counselling module's API (synapse_module/counselkit_synapse/logic.py PREFIX)
API_BASE = f"{layout.COUNSELLING_PATH}{API_VERSION}"
# Synapse names an OIDC provider "oidc-<idp_id>"; the SSO redirect goes to /_matrix/client/v3/login/sso/redirect/<it>.
SSO_IDP_ID = f"oidc-{layout.SYNAPSE_OIDC_IDP_ID}"


def counsellor_login(plan: Plan) -> str:
    """'sso' where Keycloak is part of the site (production), else 'password' (the lab's counsellor accounts).

    The same switch the deploys use for Keycloak (deploy/site.py, site.yml): platform.artifacts.keycloak."""
    return "sso" if plan.platform.artifacts.keycloak is not None else "password"


def consent_version(privacy_url: str) -> str:
    """What a help-seeker's consent refers to: the privacy notice's address, hashed to the module's 64-char limit.

    A centre that moves its privacy notice gets a new version, so consents to the old one stay distinguishable."""
    return "privacy-" + hashlib.sha256(privacy_url.encode()).hexdigest()[:16]


def tenant_web_config(plan: Plan, tenant: TenantPlan) -> dict[str, Any]:
    """The JSON object the web app reads from /config.json of `tenant`'s site."""
    entry = tenant.tenant
    branding = entry.branding
    counselling = entry.counselling
    login = counsellor_login(plan)
    return {
        "schema": CONFIG_SCHEMA,
        "slug": tenant.slug,
        "name": branding.display_name or entry.name,
        "full_name": entry.name,
        "topics": list(counselling.topics),
        "opening_hours": counselling.opening_hours,
        "absence_message": counselling.absence_message,
        "colors": {
            "primary": branding.primary_color,
            "on_primary": layout.BRAND_ON_PRIMARY_COLOR,
            "secondary": branding.secondary_color,
            "text": layout.BRAND_TEXT_COLOR,
        },
        "logo_url": layout.webapp_logo_path(branding.logo) if branding.logo else None,
        "imprint_url": str(branding.imprint_url),
        "privacy_url": str(branding.privacy_url),
        "terms_url": str(branding.terms_url) if branding.terms_url else None,
        "consent_version": consent_version(str(branding.privacy_url)),
        "api_base": API_BASE,
        "homeserver_url": tenant.url.rstrip("/"),
        "server_name": tenant.domain,
        "login": {
            "help_seeker": "password",  # help-seekers register anonymously through the counselling API
            "counsellor": login,
            "sso_idp_id": SSO_IDP_ID if login == "sso" else None,
        },
    }


def tenant_logo_file(tenant: TenantPlan, tenants_dir: Path) -> tuple[Path, str] | None:
    """The logo to copy for `tenant`: its file next to tenants.yaml and its path in the web root; None without one.

    `validate` has checked it (counselkit/model/logo.py): inside `tenants_dir`, a PNG or a script-free SVG."""
    logo = tenant.tenant.branding.logo
    if logo is None:
        return None
    return (tenants_dir / logo).resolve(), layout.webapp_logo_path(logo).lstrip("/")
