"""The realm policy every tenant's realm gets: passwords, brute force, OTP, sessions, events (docs/keycloak.md)."""

from __future__ import annotations

from ... import layout
from ...policy import LOG_RETENTION_DAYS


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

EVENTS_EXPIRATION_SECONDS = LOG_RETENTION_DAYS * 24 * 3600  # login events hold IP addresses (data minimisation)

ORG_ADMIN_REQUIRED_ACTIONS = ("UPDATE_PASSWORD", "CONFIGURE_TOTP", "VERIFY_EMAIL")

# Client roles of the realm-management client an org admin needs to manage the counsellor accounts of its realm.
ORG_ADMIN_MANAGEMENT_ROLES = ("manage-users", "view-users", "query-users", "query-groups")

REALM_MANAGEMENT_CLIENT = "realm-management"

OTP_AUTHENTICATOR = "auth-otp-form"

REALM_ROLES = {
    layout.KEYCLOAK_ORG_ADMIN_ROLE: "Org admin from tenants.yaml: manages counsellor accounts; not counted as a seat",
}
