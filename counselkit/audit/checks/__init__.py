"""The checks: each proves one observable fact about a host, read-only, from its effective state.

A check looks at what the system *does* (``sshd -T``, ``nft -j list ruleset``, ``ss``, ``systemctl show``,
PostgreSQL's catalogue, a TLS handshake) rather than at a file the deploy happened to write, so it keeps
proving the outcome when the implementation changes. Names, ports and paths come from the plan/layout.
Every check returns a :class:`Finding`; one that cannot be evaluated says so (``na`` with the reason when
the control cannot apply, e.g. a kernel setting inside a container; ``error`` when it could not run).
"""

from __future__ import annotations

# Importing the area modules registers their checks in CHECKS.
from .registry import Check, check, CheckFn, CHECKS
from .ssh import (
    MODERN_CIPHERS, MODERN_HOSTKEYS, MODERN_KEX, MODERN_MACS, ssh_modern_algorithms, ssh_password_auth_disabled,
    ssh_root_login_key_only, ssh_root_login_off,
)
from .accounts import (
    accounts_admins_with_keys, accounts_no_empty_passwords, accounts_unique_ids, sudo_group_matches_plan,
    sudoers_permissions,
)
from .kernel import KERNEL_SYSCTLS, NETWORK_SYSCTLS, SYSCTL_DIRS, sysctl_kernel, sysctl_network
from .firewall import firewall_default_deny, listeners_public_only
from .patching import security_repository_configured, unattended_upgrades_enabled
from .logs import AUDIT_WATCHED, auditd_rules, journald_persistent, time_synchronised
from .web import (
    HSTS_MIN_AGE, UNKNOWN_NAME, default_vhost_catch_all, http_redirects_to_https, http_security_headers,
    server_version_hidden, tls_certificate, tls_protocols,
)
from .postgres import (
    postgres_local_only, postgres_passwords_hashed, postgres_roles_least_privilege, postgres_scram_only,
)
from .synapse import (
    SANDBOX, UNIT_EXPOSURE_MAX, counselkit_units, exposure_problems, exposure_scores, synapse_federation_off,
    synapse_loopback_only, synapse_registration_closed, synapse_units_sandboxed, units_exposure_ok,
)
from .isolation import tenant_db_isolated, tenant_files_private, tenant_users_distinct, tenant_vhost_routing
from .secrets_at_rest import secret_files_protected
from .backups import backup_repository_restorable, backup_timers_active

__all__ = [
    "CHECKS",
    "Check",
    "CheckFn",
    "check",
    "MODERN_CIPHERS",
    "MODERN_HOSTKEYS",
    "MODERN_KEX",
    "MODERN_MACS",
    "ssh_modern_algorithms",
    "ssh_password_auth_disabled",
    "ssh_root_login_key_only",
    "ssh_root_login_off",
    "accounts_admins_with_keys",
    "accounts_no_empty_passwords",
    "accounts_unique_ids",
    "sudo_group_matches_plan",
    "sudoers_permissions",
    "KERNEL_SYSCTLS",
    "NETWORK_SYSCTLS",
    "SYSCTL_DIRS",
    "sysctl_kernel",
    "sysctl_network",
    "firewall_default_deny",
    "listeners_public_only",
    "security_repository_configured",
    "unattended_upgrades_enabled",
    "AUDIT_WATCHED",
    "auditd_rules",
    "journald_persistent",
    "time_synchronised",
    "HSTS_MIN_AGE",
    "UNKNOWN_NAME",
    "default_vhost_catch_all",
    "http_redirects_to_https",
    "http_security_headers",
    "server_version_hidden",
    "tls_certificate",
    "tls_protocols",
    "postgres_local_only",
    "postgres_passwords_hashed",
    "postgres_roles_least_privilege",
    "postgres_scram_only",
    "SANDBOX",
    "UNIT_EXPOSURE_MAX",
    "counselkit_units",
    "exposure_problems",
    "exposure_scores",
    "synapse_federation_off",
    "synapse_loopback_only",
    "synapse_registration_closed",
    "synapse_units_sandboxed",
    "units_exposure_ok",
    "tenant_db_isolated",
    "tenant_files_private",
    "tenant_users_distinct",
    "tenant_vhost_routing",
    "secret_files_protected",
    "backup_repository_restorable",
    "backup_timers_active",
]
