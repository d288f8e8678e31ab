"""The template contract: the variables every file in templates/ may read, built from the plan.

Both engines use this module, so a template renders to the same bytes whoever deploys:

* ``host_vars(plan, host)`` — plain data (JSON types, no secret values) that an engine's inventory attaches to a
  host: pyinfra's host data (inventories/*.py) and, later, the Ansible inventory plugin's hostvars.
* ``host_context(vars, secret)`` — ``vars`` plus the layout paths and the secret *values* the templates need;
  ``secret(ref)`` reads the encrypted secrets file (counselkit.secrets.SecretStore.get, or Ansible's vault lookup).
* ``environment()`` — the one Jinja2 environment of every template (also templates/backup/ and templates/keycloak/):
  the options of Ansible's template module (trim_blocks, trailing newline kept, no lstrip), StrictUndefined so a
  missing variable is an error and never an empty line in a config file, and the escaping filters of
  counselkit.escape (which the Ansible filter plugin registers too).
* ``render(name, context)`` — one template by its path under templates/.

Host templates see the host context; per-tenant templates (``TENANT_TEMPLATES``) see it with ``tenant`` set to one
entry of ``tenants``. Templates use only these variables, standard Jinja2 filters and counselkit.escape's: no engine objects. Every
``{{ ... }}`` ends in the escaping filter of its file's syntax (docs/architecture.md, "Template contract").
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from . import escape, layout, policy
from .model.platform import one_line
from .plan import HostPlan, Plan, TenantPlan
from .webapp.config import tenant_logo_file, tenant_web_config

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"

# template -> destination on the host (host-wide files)
HOST_TEMPLATES: dict[str, str] = {
    "base/sshd_config.j2": layout.SSHD_CONFIG,
    "base/sysctl-net.conf.j2": layout.SYSCTL_NET_FILE,
    "base/sysctl-kernel.conf.j2": layout.SYSCTL_KERNEL_FILE,
    "base/nftables.conf.j2": layout.NFTABLES_CONF,
    "base/audit.rules.j2": layout.AUDIT_RULES,
    "base/journald.conf.j2": layout.JOURNALD_DROPIN,
    "base/auto-upgrades.j2": layout.APT_AUTO_UPGRADES,
    "base/unattended-upgrades.j2": layout.APT_UNATTENDED_CONF,
    "base/sudoers-admins.j2": layout.SUDOERS_ADMINS,
    "base/apt-proxy.conf.j2": layout.APT_PROXY_CONF,  # only with platform.proxy
    "base/pip.conf.j2": layout.PIP_CONF,
    "base/login.defs.j2": layout.LOGIN_DEFS,
    "base/limits-core.conf.j2": layout.CORE_LIMITS,
    "base/coredump.conf.j2": layout.COREDUMP_DROPIN,
    "base/profile.sh.j2": layout.SHELL_PROFILE,
    "base/modprobe-blacklist.conf.j2": layout.MODPROBE_BLACKLIST,
    "base/issue.j2": layout.ISSUE,
    "base/issue.net.j2": layout.ISSUE_NET,
    "base/fail2ban-jail.conf.j2": layout.FAIL2BAN_JAIL,
    "base/aide-init.service.j2": layout.AIDE_INIT_UNIT_PATH,
    "base/msmtprc.j2": layout.MSMTP_CONF,  # only with platform.smtp.reports_to
    "base/mail-aliases.j2": layout.MAIL_ALIASES,  # only with platform.smtp.reports_to
    "postgres/counselkit.conf.j2": layout.POSTGRES_CONF_DROPIN,
    "postgres/pg_hba.conf.j2": layout.POSTGRES_HBA,
    "postgres/pg_ident.conf.j2": layout.POSTGRES_IDENT,
    "synapse/matrix-synapse@.service.j2": layout.SYNAPSE_UNIT_PATH,
    "nginx/nginx.conf.j2": layout.NGINX_CONF,
    "nginx/security-headers.conf.j2": layout.NGINX_HEADERS_SNIPPET,
    "nginx/default.conf.j2": layout.NGINX_CATCHALL_SITE,
    "nginx/logrotate.j2": layout.NGINX_LOGROTATE,
}
# Host templates written only when the platform asks for them (both engines and the parity check read this).
CONDITIONAL_HOST_TEMPLATES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "base/apt-proxy.conf.j2": lambda platform: bool(platform["proxy"]),
    "base/msmtprc.j2": lambda platform: bool(platform["reports"]),
    "base/mail-aliases.j2": lambda platform: bool(platform["reports"]),
}


def wanted_host_templates(vars: dict[str, Any]) -> dict[str, str]:
    """HOST_TEMPLATES without the conditional ones this platform does not use."""
    return {name: dest for name, dest in HOST_TEMPLATES.items()
            if name not in CONDITIONAL_HOST_TEMPLATES or CONDITIONAL_HOST_TEMPLATES[name](vars["platform"])}


# Host files that only need to be in place (0644 root, no service to reload): both engines loop over this list.
PLAIN_HOST_TEMPLATES = ("base/login.defs.j2", "base/limits-core.conf.j2", "base/coredump.conf.j2",
                        "base/profile.sh.j2", "base/modprobe-blacklist.conf.j2", "base/issue.j2", "base/issue.net.j2")
# template -> key of the destination path in a tenant's vars
TENANT_TEMPLATES: dict[str, str] = {
    "synapse/homeserver.yaml.j2": "homeserver_yaml",
    "synapse/log.config.j2": "log_config",
    "nginx/tenant.conf.j2": "site",
    "synapse/unit-dropin.conf.j2": "unit_dropin",
    "base/egress-synapse.nft.j2": "egress_rules",
    "web/index.html.j2": "index_html",
    "web/config.json.j2": "config_json",
}

# Paths and names the templates read through `layout` (a plain dict, so an Ansible role can be given the same).
LAYOUT_KEYS = (
    "ADMIN_GROUP", "SSHD_HOST_KEYS", "NFTABLES_TABLE", "JOURNAL_DIR", "POSTGRES_VERSION", "POSTGRES_PORT",
    "POSTGRES_HOST", "OPERATOR_ACCOUNT_PREFIX", "SYNAPSE_VENV", "SYNAPSE_BIND_HOST", "NGINX_SITES_DIR",
    "NGINX_HEADERS_SNIPPET", "ACME_WEBROOT", "WEBAPP_BUNDLE", "WEBAPP_PRECOMPRESSED",
    "WEBAPP_CONFIG",
    "COUNSELKIT_ETC", "TLS_DIR", "KEYCLOAK_DB", "KEYCLOAK_DB_USER", "KEYCLOAK_PATH", "KEYCLOAK_HTTP_PORT", "AIDE_DB",
    "POSTGRES_PEER_MAP", "POSTGRES_PEER_USERS", "POSTGRES_SUPERUSER", "AIDE_DB_DIR", "AIDE_DB_NEW", "AIDE_USER",
    "AIDE_CONF", "NFTABLES_EGRESS_DIR", "NFTABLES_EGRESS_MODE", "NGINX_LOG_FORMAT", "MAIL_ALIASES", "ISSUE_NET",
    "ROOT_SSH_DIR", "ROOT_AUTHORIZED_KEYS", "PROXY_CONFIG_MODE", "SYNAPSE_MODULE_ROOT", "SYNAPSE_MODULE_CLASS",
    "COUNSELLING_PATH", "COUNSELLING_SERVICE_LOCALPART", "COUNSELLING_OPENAPI_HOST", "SYNAPSE_PYTHON_FLAGS",
)
# Policy figures (counselkit/policy.py) the templates read in the same `layout` namespace: moving a figure between
# the two modules changes no template.
POLICY_KEYS = (
    "SYNAPSE_MAX_UPLOAD", "DISABLED_KERNEL_MODULES", "LEGAL_BANNER", "INTERNAL_NETWORKS_V4", "INTERNAL_NETWORKS_V6",
    "LOG_RETENTION_DAYS", "MESSAGE_RETENTION", "PURGE_GRACE", "SYNAPSE_SESSION_LIFETIME",
    "SYNAPSE_ACCESS_TOKEN_LIFETIME", "NGINX_AUTH_RATE", "NGINX_AUTH_BURST", "COUNSELLING_REGISTER_PER_MINUTE",
    "COUNSELLING_REGISTER_BURST", "WEBAPP_QUICK_EXIT_URL",
)


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        # Not HTML autoescaping: the files are of many syntaxes, each escaped by its own filter (counselkit.escape).
        autoescape=False,
    )
    env.filters.update(escape.FILTERS)
    return env


def render(name: str, context: dict[str, Any]) -> str:
    """Render templates/<name> (e.g. "nginx/tenant.conf.j2")."""
    return environment().get_template(name).render(**context)


def tenant_vars(plan: Plan, tenant: TenantPlan) -> dict[str, Any]:
    data = tenant.model_dump(mode="json", exclude={"tenant"})
    model = tenant.tenant
    data.update(
        name=model.name,
        federation=model.federation,
        limits=model.limits.model_dump(mode="json"),
        counselling=model.counselling.model_dump(mode="json"),
        federation_domains=list(model.federation_domains),
        seats=model.seats,
        admin_emails=[admin.email for admin in model.admins],
        branding=model.branding.model_dump(mode="json"),
        site=layout.tenant_site(tenant.slug),
        index_html=f"{tenant.web_root}/index.html",
        config_json=f"{tenant.web_root}/{layout.WEBAPP_CONFIG}",
        tls=layout.tenant_tls_paths(tenant.slug, tenant.domain, plan.platform.tls),
        tls_ref=layout.tenant_secret_ref(tenant.slug, layout.TENANT_TLS_SECRET),
        **layout.tenant_synapse_files(tenant.slug),
    )
    data["web_config"] = tenant_web_config(plan, tenant)
    logo = tenant_logo_file(tenant, plan.source_dir)  # copied as it is into the web root (validate checked it)
    data["logo"] = {"src": str(logo[0]), "dest": f"{tenant.web_root}/{logo[1]}"} if logo else None
    return data


def _reports(platform: Any) -> dict[str, Any] | None:
    """The mail relay for host reports (platform.smtp with reports_to), without the password (a secret reference)."""
    smtp = platform.smtp
    if smtp is None or smtp.reports_to is None:
        return None
    return {
        "host": smtp.host, "port": smtp.port, "from_address": str(smtp.from_address), "to": str(smtp.reports_to),
        "starttls": smtp.starttls, "ssl": smtp.ssl, "user": smtp.user,
        "password_ref": layout.platform_secret_ref(layout.KEYCLOAK_SMTP_PASSWORD_SECRET) if smtp.user else None,
    }


def _notices_relay(platform: Any) -> dict[str, Any] | None:
    """The relay Synapse sends counsellor notices through (platform.smtp), without the password (a secret reference).

    Only when platform.smtp.host is an IP address: Synapse's egress rules (base/egress-synapse.nft.j2) allow
    exactly that address and port, and a host name would need DNS and could not be pinned to one address.
    """
    smtp = platform.smtp
    if smtp is None:
        return None
    try:
        address = ipaddress.ip_address(smtp.host)
    except ValueError:
        return None
    return {
        "host": smtp.host, "family": "ip6" if address.version == 6 else "ip", "port": smtp.port,
        "from_address": str(smtp.from_address), "from_name": smtp.from_name,
        "starttls": smtp.starttls, "ssl": smtp.ssl, "user": smtp.user,
        "password_ref": layout.platform_secret_ref(layout.KEYCLOAK_SMTP_PASSWORD_SECRET) if smtp.user else None,
    }


def host_vars(plan: Plan, host: HostPlan | str) -> dict[str, Any]:
    """Everything a host's deploy needs, as plain data without secret values."""
    if isinstance(host, str):
        host = plan.host(host)
    platform = plan.platform
    return {
        # how the deploy gets root (HostPlan.sudo) and whether root may log in over SSH (templates/base/sshd_config.j2)
        "host": {"name": host.name, "address": host.address, "ssh_user": host.ssh_user, "sudo": host.sudo,
                 "permit_root_login": host.permit_root_login},
        "platform": {
            "domain": platform.domain,
            "tls": platform.tls,
            "acme_email": platform.acme_email,
            "proxy": str(platform.proxy) if platform.proxy else None,
            "admins": [{"name": a.name, "ssh_key": a.ssh_key} for a in platform.admins],
            "root_keys": plan.root_keys(),
            "synapse_version": platform.artifacts.synapse.version,
            "keycloak": platform.artifacts.keycloak is not None,
            "admin_networks": list(platform.admin_networks),
            "reports": _reports(platform),
            "notices": _notices_relay(platform),
        },
        "platform_secrets": dict(plan.platform_secrets),
        "public_tcp_ports": list(plan.public_tcp_ports),
        "tenants": [tenant_vars(plan, t) for t in host.tenants],
        "removed": [r.model_dump(mode="json") for r in host.removed],
        # Templated unit: the same names as tenant_names(), with systemd's instance specifier for the slug.
        "synapse_unit": {**layout.tenant_names("%i"), **layout.tenant_synapse_files("%i")},
        # The backup jobs and the contexts of templates/backup/ without secrets (counselkit.components.backup)
        "backup": _backup(plan, host.name),
        # The contexts of templates/keycloak/ without secrets (counselkit.components.keycloak)
        "keycloak": _keycloak(plan, host.name),
    }


def _backup(plan: Plan, host: str) -> dict[str, Any]:
    from .backup.render import plain_data  # counselkit.backup renders through this module

    return plain_data(plan, host)


def _keycloak(plan: Plan, host: str) -> dict[str, Any]:
    from .keycloak.render import plain_data  # counselkit.keycloak renders through this module

    return plain_data(plan, host)


def host_context(vars: dict[str, Any], secret: Callable[[str], str] | None) -> dict[str, Any]:
    """Template context: host vars + layout + the secret values of each tenant (``tenant.secret_values``).

    With ``secret=None`` (unit tests, dry renders) secret values are placeholders naming their reference.
    """
    def value(ref: str) -> str:
        return secret(ref) if secret is not None else f"<{ref}>"

    tenants = []
    for tenant in vars["tenants"]:
        values = {name: value(ref) for name, ref in tenant["secrets"].items() if name in layout.SYNAPSE_SECRETS}
        tenants.append({**tenant, "secret_values": values})
    context = {**vars, "tenants": tenants, "layout": {**{key: getattr(layout, key) for key in LAYOUT_KEYS},
                                                        **{key: getattr(policy, key) for key in POLICY_KEYS}}}
    reports = vars["platform"].get("reports")
    context["reports_password"] = _one_line(value(reports["password_ref"]), reports["password_ref"]) \
        if reports and reports["password_ref"] else None
    notices = vars["platform"].get("notices")
    # Synapse's email section (homeserver.yaml, a YAML string: any character is escaped there).
    context["notices_password"] = value(notices["password_ref"]) if notices and notices["password_ref"] else None
    context["tenant"] = None
    return context


def _one_line(value: str, ref: str) -> str:
    """A secret that goes into a line-based config file (msmtprc): a line break would end the value there."""
    try:
        return one_line(value)
    except ValueError:
        raise ValueError(f"secret '{ref}' contains a line break or control character; set it again without one "
                         f"(`counselkit secrets set {ref}`)") from None


def tenant_context(context: dict[str, Any], slug: str) -> dict[str, Any]:
    tenant = next(t for t in context["tenants"] if t["slug"] == slug)
    return {**context, "tenant": tenant}


def render_host_files(context: dict[str, Any]) -> dict[str, str]:
    """Destination path -> content of every host-wide file (the conditional ones only when wanted)."""
    return {dest: render(name, context) for name, dest in wanted_host_templates(context).items()}


def render_tenant_files(context: dict[str, Any], slug: str) -> dict[str, str]:
    tenant_ctx = tenant_context(context, slug)
    return {tenant_ctx["tenant"][key]: render(name, tenant_ctx) for name, key in TENANT_TEMPLATES.items()}
