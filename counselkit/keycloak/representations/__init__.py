"""What counselkit asks Keycloak's Admin REST API to hold for one tenant: realm, Synapse client, org admin accounts.

Pure functions from the plan to JSON-ready dicts (no network), checked against the representation schema in
representations.schema.json (transcribed from Keycloak's org.keycloak.representations.idm classes).
"""

from __future__ import annotations

from .schema import SCHEMA_FILE, RepresentationError, schema, check
from .policy import (
    PASSWORD_POLICY, BRUTE_FORCE, OTP_POLICY, SESSIONS, EVENTS_EXPIRATION_SECONDS, ORG_ADMIN_REQUIRED_ACTIONS,
    ORG_ADMIN_MANAGEMENT_ROLES, REALM_MANAGEMENT_CLIENT, OTP_AUTHENTICATOR, REALM_ROLES,
)
from .realm import (
    public_base_url, issuer, loopback_base_url, smtp_server, realm_representation, synapse_redirect_uri,
    synapse_backchannel_logout_url, synapse_client_representation, role_representation,
)
from .users import org_admin_username, org_admin_usernames, split_name, org_admin_representation
from .flows import required_action_update, otp_flow_changes

__all__ = [
    "SCHEMA_FILE",
    "RepresentationError",
    "schema",
    "check",
    "PASSWORD_POLICY",
    "BRUTE_FORCE",
    "OTP_POLICY",
    "SESSIONS",
    "EVENTS_EXPIRATION_SECONDS",
    "ORG_ADMIN_REQUIRED_ACTIONS",
    "ORG_ADMIN_MANAGEMENT_ROLES",
    "REALM_MANAGEMENT_CLIENT",
    "OTP_AUTHENTICATOR",
    "REALM_ROLES",
    "public_base_url",
    "issuer",
    "loopback_base_url",
    "smtp_server",
    "realm_representation",
    "synapse_redirect_uri",
    "synapse_backchannel_logout_url",
    "synapse_client_representation",
    "role_representation",
    "org_admin_username",
    "org_admin_usernames",
    "split_name",
    "org_admin_representation",
    "required_action_update",
    "otp_flow_changes",
]
