"""Policy figures the platform applies: what is kept and for how long, rate limits, what a tenant may use and
reach, host hardening choices, certificate lifetimes and the defaults of a tenant's counselling block.

Names and paths live in counselkit/layout.py; the values here are decisions (docs/data-protection.md says why for
the privacy figures). Templates read them in the same ``layout`` context namespace as the layout names
(counselkit.render.LAYOUT_KEYS / POLICY_KEYS), so no template changes when a figure moves.
"""

from __future__ import annotations


# --- What is kept, and for how long
# Privacy figures (docs/data-protection.md). Help-seekers' data is GDPR Art. 9 data: each is kept no longer than its
# purpose needs, and related settings share one figure so that nothing outlives what it belongs to.
LOG_RETENTION_DAYS = 30  # IP addresses and user IDs: journal, nginx logs, Synapse's user_ips, Keycloak login events
MESSAGE_RETENTION = "365d"  # messages (server default and room maximum) and local media not accessed for this long
PURGE_GRACE = "7d"  # redacted events kept unredacted, forgotten rooms kept, before Synapse purges them
SYNAPSE_SESSION_LIFETIME = "12h"  # a working day: then a new login through Keycloak (which refuses disabled users)
SYNAPSE_ACCESS_TOKEN_LIFETIME = "5m"  # access tokens of clients that use refresh tokens

# --- Rate limits
NGINX_AUTH_RATE = "30r/m"  # per client address on login, registration, SSO and Keycloak login/token paths
NGINX_AUTH_BURST = 20
# Registrations per client address (token bucket inside the module); nginx's auth zone limits the path as well.
COUNSELLING_REGISTER_PER_MINUTE = 5
COUNSELLING_REGISTER_BURST = 5

# --- Resources a tenant may use
# Resource limits of one tenant's Synapse (systemd resource control in the tenant's unit drop-in): the defaults of
# a tenant's `limits:` in tenants.yaml. MemoryHigh throttles and reclaims, MemoryMax is the hard ceiling.
SYNAPSE_LIMITS = {"memory_high_mb": 1024, "memory_max_mb": 1536, "cpu_weight": 100, "tasks_max": 256,
                  "open_files": 8192}
SYNAPSE_MAX_UPLOAD = "50M"
KEYCLOAK_MEMORY_MB = 1024  # JVM heap ceiling (-Xmx)

# --- Where a tenant's Synapse may not connect
# Destinations a federating Synapse may not reach (internal and special-purpose networks); DNS stays open.
INTERNAL_NETWORKS_V4 = ("10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
                        "224.0.0.0/4")
INTERNAL_NETWORKS_V6 = ("fc00::/7", "fe80::/10", "ff00::/8")

# --- Host hardening choices
# Kernel modules a hosted server never needs: removable storage and rarely used network protocols.
DISABLED_KERNEL_MODULES = ("usb-storage", "firewire-core", "firewire-ohci", "firewire-sbp2", "dccp", "sctp", "rds",
                           "tipc")
AIDE_CHECKSUMS = "sha512"  # one strong hash instead of Debian's all-hashes group H: same assurance, faster scans
# Legal banner of /etc/issue and /etc/issue.net (one text for both; Ansible templates cannot include each other
# outside the playbook directory).
LEGAL_BANNER = (
    "Authorised access only. This system is the property of its owner and is subject to monitoring: access and "
    "actions are logged and recorded as evidence. Unauthorised access is prohibited and may lead to criminal "
    "prosecution under applicable law (German Criminal Code, sections 202a-202c and 303b). By continuing you consent "
    "to these terms and to the audit policy of the owner."
)

# --- Certificates of the internal CA
TLS_CERT_DAYS = 397  # issued host certificates; re-issued when less than TLS_RENEW_DAYS remain
TLS_RENEW_DAYS = 30

# --- Counselling defaults
# Defaults of a tenant's `counselling:` block in tenants.yaml (counselkit/model/tenant.py).
COUNSELLING_DEFAULTS = {
    "topics": ["Allgemeine Beratung"],
    "opening_hours": "Mo–Fr 9–17 Uhr",
    "absence_message": None,
    "retention_days": 180,
    "notify_counsellors": True,
}

# Where the web app's "Schnell weg" (quick exit) leads: a neutral, everyday site (upstream Onlineberatung does the same).
WEBAPP_QUICK_EXIT_URL = "https://www.google.de/"
