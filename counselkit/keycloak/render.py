"""Template contexts and rendered files for Keycloak on one host (templates/keycloak/**).

Every name, port and path comes from counselkit.layout and the plan; secrets are passed in by the caller
(the deploy reads them from the secrets store) and only ever end up in files of mode 0600/0640.
"""

from __future__ import annotations

import re
from typing import Any

from .. import layout, policy
from .. import render as templates
from ..plan import Plan, TenantPlan
from . import representations as reps

MANAGED_BY = "Managed by counselkit — local changes are overwritten on the next deploy."
TRUSTED_PROXIES = "127.0.0.0/8,::1"  # nginx on the same host
_ENV_SAFE = re.compile(r"^[A-Za-z0-9_.~+/=-]{8,256}$")


def render(template: str, context: dict[str, Any]) -> str:
    """templates/<template> in the one template environment (counselkit.render), with the managed-by banner."""
    return templates.render(template, {"managed_by": MANAGED_BY, **context})


def conf_context(plan: Plan, version: str) -> dict[str, Any]:
    return {
        "version": version,
        "env_file": layout.KEYCLOAK_ENV_FILE,
        "group": layout.KEYCLOAK_GROUP,
        "db_host": "127.0.0.1",
        "db_port": layout.POSTGRES_PORT,
        "db_name": layout.KEYCLOAK_DB,
        "db_user": layout.KEYCLOAK_DB_USER,
        "http_host": layout.KEYCLOAK_HTTP_HOST,
        "http_port": plan.keycloak_http_port,
        "management_port": plan.keycloak_management_port,
        "path": layout.KEYCLOAK_PATH,
        "trusted_proxies": TRUSTED_PROXIES,
    }


def keycloak_conf(plan: Plan, version: str) -> str:
    return render("keycloak/keycloak.conf.j2", conf_context(plan, version))


def unit_context(version: str) -> dict[str, Any]:
    return {
        "version": version,
        "user": layout.KEYCLOAK_USER,
        "group": layout.KEYCLOAK_GROUP,
        "env_file": layout.KEYCLOAK_ENV_FILE,
        "bootstrap_env_file": layout.KEYCLOAK_BOOTSTRAP_ENV_FILE,
        "home": layout.KEYCLOAK_CURRENT,
        "conf": layout.KEYCLOAK_CONF,
        "data_dir": layout.KEYCLOAK_DATA_DIR,
        "memory_mb": policy.KEYCLOAK_MEMORY_MB,
    }


def unit_file(version: str) -> str:
    return render("keycloak/keycloak.service.j2", unit_context(version))


def _env_value(name: str, value: str) -> str:
    # systemd EnvironmentFile: keep values to a quoting-free alphabet rather than trust escaping rules.
    if not _ENV_SAFE.match(value):
        raise ValueError(f"secret for {name} has characters an EnvironmentFile cannot hold safely; regenerate it")
    return value


def env_context(db_password: str) -> dict[str, Any]:
    return {"group": layout.KEYCLOAK_GROUP, "db_password": _env_value("KC_DB_PASSWORD", db_password)}


def env_file(db_password: str) -> str:
    """keycloak.env: what every start needs (the database password)."""
    return render("keycloak/keycloak.env.j2", env_context(db_password))


def bootstrap_env_context(admin_password: str) -> dict[str, Any]:
    return {"admin_user": layout.KEYCLOAK_ADMIN_USER,
            "admin_password": _env_value("KC_BOOTSTRAP_ADMIN_PASSWORD", admin_password)}


def bootstrap_env_file(admin_password: str) -> str:
    """bootstrap.env: the master realm admin for the first start only (layout.KEYCLOAK_BOOTSTRAP_ENV_FILE)."""
    return render("keycloak/keycloak-bootstrap.env.j2", bootstrap_env_context(admin_password))


def synapse_oidc_context(plan: Plan, tenant: TenantPlan, client_secret: str) -> dict[str, Any]:
    return {**synapse_oidc_plain_context(plan, tenant), "client_secret": client_secret}


def synapse_oidc_plain_context(plan: Plan, tenant: TenantPlan) -> dict[str, Any]:
    """The context of templates/keycloak/synapse-oidc.yaml.j2 without the client secret (Ansible hostvars)."""
    public = f"{reps.issuer(tenant)}/protocol/openid-connect"
    loopback = f"{reps.loopback_base_url(plan)}/realms/{tenant.keycloak_realm}/protocol/openid-connect"
    return {
        "slug": tenant.slug,
        "unix_user": tenant.unix_user,
        "idp_id": layout.SYNAPSE_OIDC_IDP_ID,
        "idp_name": tenant.tenant.name,
        "issuer": reps.issuer(tenant),
        "authorization_endpoint": f"{public}/auth",
        "token_endpoint": f"{loopback}/token",
        "userinfo_endpoint": f"{loopback}/userinfo",
        "jwks_uri": f"{loopback}/certs",
        "client_id": tenant.oidc_client_id,
    }


def synapse_oidc(plan: Plan, tenant: TenantPlan, client_secret: str) -> str:
    """The extra Synapse config (layout.synapse_oidc_config(slug)) making the tenant's realm its only login."""
    return render("keycloak/synapse-oidc.yaml.j2", synapse_oidc_context(plan, tenant, client_secret))


def theme_context(tenant: TenantPlan) -> dict[str, Any]:
    branding = tenant.tenant.branding
    return {"slug": tenant.slug, "name": tenant.tenant.name,
            "primary_color": branding.primary_color, "secondary_color": branding.secondary_color}


# path inside a tenant's theme directory (layout.keycloak_theme) -> template: the login theme's files
THEME_TEMPLATES: dict[str, str] = {
    "login/theme.properties": "keycloak/theme/login/theme.properties.j2",
    "login/resources/css/counselkit.css": "keycloak/theme/login/resources/css/counselkit.css.j2",
}


def theme_files(tenant: TenantPlan) -> dict[str, str]:
    """Relative path under the release's themes/ directory -> content, for the tenant's login theme."""
    context = theme_context(tenant)
    theme = layout.keycloak_theme(tenant.slug)
    return {f"{theme}/{relative}": render(template, context) for relative, template in THEME_TEMPLATES.items()}


# File.context names of the Keycloak component (counselkit/components/keycloak.py) -> the variable each secret
# value takes in that template; the values are added by the engine (env_value-checked), never put into host vars.
SECRET_VARS: dict[str, dict[str, str]] = {"env": {"db_password": "keycloak_db_password"},
                                          "bootstrap": {"admin_password": "keycloak_admin_password"}}


def plain_data(plan: Plan, host: str) -> dict[str, Any]:
    """Keycloak's part of the host vars (counselkit.render.host_vars): the templates' contexts without secrets.

    ``contexts`` by File.context name (``theme``: by tenant slug), ``secrets``: File.context -> template variable ->
    secret reference (platform_secrets). Built from the plan here, so the component spec and both engines read
    plain data only."""
    artifact = plan.platform.artifacts.keycloak
    version = artifact.version if artifact else "unpinned"
    banner = {"managed_by": MANAGED_BY}
    return {
        "version": version,
        "management_port": plan.keycloak_management_port,
        "contexts": {
            "conf": {**banner, **conf_context(plan, version)},
            "unit": {**banner, **unit_context(version)},
            "env": {**banner, "group": layout.KEYCLOAK_GROUP},
            "bootstrap": {**banner, "admin_user": layout.KEYCLOAK_ADMIN_USER},
            "theme": {t.slug: {**banner, **theme_context(t)} for t in plan.host(host).tenants},
        },
        "secrets": {name: {var: plan.platform_secrets[key] for var, key in refs.items()}
                    for name, refs in SECRET_VARS.items()},
    }


def file_context(data: dict[str, Any], name: str, tenant: str | None, secret: Any) -> dict[str, Any]:
    """The context a File of the Keycloak spec renders with: ``contexts[name]`` (of ``tenant`` for a theme file)
    plus its secret values, each checked to be EnvironmentFile-safe (``secret(ref)`` reads the secrets file)."""
    context = data["contexts"][name][tenant] if tenant else data["contexts"][name]
    values = {var: _env_value(var, secret(ref)) for var, ref in data["secrets"].get(name, {}).items()}
    return {**context, **values}
