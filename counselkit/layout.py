"""Every name, port and path on a target host, derived in one place from a tenant's slug.

Deploys, roles, templates, tests and the audit read these through the plan; nothing else spells them out.
"""

from __future__ import annotations

# Ports a host may expose to the world; everything else listens on loopback only.
PUBLIC_TCP_PORTS = (22, 80, 443)

# Loopback ports.
SYNAPSE_PORT_BASE = 8101  # tenant ports are SYNAPSE_PORT_BASE + n, assigned once and pinned in the lock file
SYNAPSE_PORT_MAX = 8999
KEYCLOAK_HTTP_PORT = 8080
KEYCLOAK_MANAGEMENT_PORT = 9000
POSTGRES_PORT = 5432

# Install locations.
COUNSELKIT_ETC = "/etc/counselkit"
COUNSELKIT_LIB = "/var/lib/counselkit"
SYNAPSE_VENV = "/opt/counselkit/synapse"
SYNAPSE_CONFIG_ROOT = f"{COUNSELKIT_ETC}/synapse"
SYNAPSE_DATA_ROOT = f"{COUNSELKIT_LIB}/synapse"
SYNAPSE_UNIT_TEMPLATE = "matrix-synapse@.service"
KEYCLOAK_HOME = "/opt/keycloak"
KEYCLOAK_USER = "keycloak"
KEYCLOAK_DB = "keycloak"
WEB_ROOT = "/var/www/counselkit"
TLS_DIR = f"{COUNSELKIT_ETC}/tls"
BACKUP_CONFIG_ROOT = f"{COUNSELKIT_ETC}/backup"

# Secrets kept per tenant and for the platform in the encrypted secrets file, with how each is made.
TENANT_SECRETS: dict[str, str] = {
    "synapse_db_password": "password",
    "registration_shared_secret": "token",
    "macaroon_secret_key": "token",
    "form_secret": "token",
    "oidc_client_secret": "token",
    "restic_password": "password",
}
PLATFORM_SECRETS: dict[str, str] = {
    "keycloak_admin_password": "password",
    "keycloak_db_password": "password",
    "internal_ca": "ca",  # PEM key + certificate of the own CA for tls: internal
}
# Supplied by the storage provider, never generated: `counselkit secrets set` stores them.
PROVIDED_SECRETS = ("backup_s3_access_key", "backup_s3_secret_key")


def db_identifier(slug: str) -> str:
    return slug.replace("-", "_")


def tenant_names(slug: str) -> dict[str, str]:
    """Names and paths of one tenant's resources on its host."""
    return {
        "unix_user": f"mx-{slug}",
        "db_name": f"synapse_{db_identifier(slug)}",
        "db_user": f"synapse_{db_identifier(slug)}",
        "unit": f"matrix-synapse@{slug}.service",
        "config_dir": f"{SYNAPSE_CONFIG_ROOT}/{slug}",
        "data_dir": f"{SYNAPSE_DATA_ROOT}/{slug}",
        "media_dir": f"{SYNAPSE_DATA_ROOT}/{slug}/media",
        "signing_key_path": f"{SYNAPSE_CONFIG_ROOT}/{slug}/signing.key",
        "keycloak_realm": slug,
        "oidc_client_id": "synapse",
        "web_root": f"{WEB_ROOT}/{slug}",
        "backup_config_dir": f"{BACKUP_CONFIG_ROOT}/{slug}",
    }


def tenant_secret_ref(slug: str, name: str) -> str:
    return f"tenants.{slug}.{name}"


def platform_secret_ref(name: str) -> str:
    return f"platform.{name}"
