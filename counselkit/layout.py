"""Every name, port and path on a target host, derived in one place from a tenant's slug.

Deploys, roles, templates, tests and the audit read these through the plan; nothing else spells them out.
"""

from __future__ import annotations

# Ports a host may expose to the world; everything else listens on loopback only.
PUBLIC_TCP_PORTS = (22, 80, 443)

# Loopback ports.
SYNAPSE_BIND_HOST = "127.0.0.1"  # Synapse's listener; the admin API is reached through an SSH forward to it
SYNAPSE_PORT_BASE = 8101  # tenant ports are SYNAPSE_PORT_BASE + n, assigned once and pinned in the lock file
SYNAPSE_PORT_MAX = 8999
KEYCLOAK_HTTP_PORT = 8080
KEYCLOAK_MANAGEMENT_PORT = 9000
POSTGRES_PORT = 5432
POSTGRES_MAINTENANCE_DBS = ("postgres", "template1")  # PUBLIC loses CONNECT there too

# Install locations.
COUNSELKIT_ETC = "/etc/counselkit"
COUNSELKIT_LIB = "/var/lib/counselkit"
SYNAPSE_VENV = "/opt/counselkit/synapse"
SYNAPSE_CONFIG_ROOT = f"{COUNSELKIT_ETC}/synapse"
SYNAPSE_DATA_ROOT = f"{COUNSELKIT_LIB}/synapse"
SYNAPSE_UNIT_TEMPLATE = "matrix-synapse@.service"
# Egress rules of service accounts (nftables, by socket owner): one file per tenant, included by nftables.conf.
NFTABLES_EGRESS_DIR = "/etc/counselkit/nftables.d"
NFTABLES_EGRESS_MODE = "0600"  # root reads them; below COUNSELKIT_ETC nothing is for others (CK-SEC-01)
KEYCLOAK_HOME = "/opt/keycloak"
KEYCLOAK_USER = "keycloak"
KEYCLOAK_DB = "keycloak"
WEB_ROOT = "/var/www/counselkit"
# The counselling web app (webapp/, `counselkit webapp build`): the same bundle in every tenant's web root, next to
# the tenant's index.html and config.json. The names are the URLs the app loads (webapp/src/main.js: /crypto.wasm).
WEBAPP_BUNDLE = ("app.js", "app.css", "crypto.wasm")
# Each also gzip-compressed beside it (<name>.gz, built once on the control machine): nginx's gzip_static sends that to
# browsers that accept gzip — the bundle is static and public, so no compression oracle (BREACH) applies.
WEBAPP_PRECOMPRESSED = tuple(f"{name}.gz" for name in WEBAPP_BUNDLE)
WEBAPP_CONFIG = "config.json"
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
    "restic_password_platform": "password",  # the per-host platform repositories (Keycloak's database)
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

# Backups (restic to S3): one job per tenant plus one platform job per host (Keycloak's database).
BACKUP_SCRIPT = "/usr/local/sbin/counselkit-backup"
# The backup jobs run as root with this primary group: nftables tells their sockets apart by it (meta skgid), and
# the sandboxed unit cannot change groups (no CAP_SETGID).
BACKUP_GROUP = "counselkit-backup"
BACKUP_EGRESS_RULES = f"{NFTABLES_EGRESS_DIR}/backup.nft"
BACKUP_SERVICE_TEMPLATE = "counselkit-backup@.service"
BACKUP_TIMER_TEMPLATE = "counselkit-backup@.timer"
BACKUP_STATE_ROOT = f"{COUNSELKIT_LIB}/backup"  # dump staging, restic cache, last-run status (root-only)
BACKUP_LOCK_DIR = f"{BACKUP_STATE_ROOT}/locks"
BACKUP_HOST_LOCK = f"{BACKUP_LOCK_DIR}/host.lock"  # serialises the jobs of one host
BACKUP_PLATFORM_JOB = "_platform"  # never a tenant slug: slugs are DNS labels
BACKUP_PLATFORM_PREFIX = "_platform"  # bucket prefix of the per-host platform repositories: _platform/<host>
BACKUP_DUMP_NAME = "db"  # dumps go to <state_dir>/db/<database>.dump and are part of the snapshot


def backup_job_names(job: str) -> dict[str, str]:
    """Paths and units of one backup job on its host (job = tenant slug or BACKUP_PLATFORM_JOB)."""
    config_dir = f"{BACKUP_CONFIG_ROOT}/{job}"
    state_dir = f"{BACKUP_STATE_ROOT}/{job}"
    return {
        "config_dir": config_dir,
        "env_file": f"{config_dir}/restic.env",
        "password_file": f"{config_dir}/restic.password",
        "job_file": f"{config_dir}/job.conf",
        "state_dir": state_dir,
        "dump_dir": f"{state_dir}/{BACKUP_DUMP_NAME}",
        "cache_dir": f"{state_dir}/cache",
        "restore_dir": f"{state_dir}/restore",
        "status_file": f"{state_dir}/last-run.json",
        "lock_file": f"{BACKUP_LOCK_DIR}/{job}.lock",
        "service": f"counselkit-backup@{job}.service",
        "timer": f"counselkit-backup@{job}.timer",
    }


def platform_backup_prefix(host: str) -> str:
    return f"{BACKUP_PLATFORM_PREFIX}/{host}"


# Keycloak (one instance per host; see docs/keycloak.md). Releases are unpacked side by side under
# KEYCLOAK_RELEASES and KEYCLOAK_CURRENT points at the one in use, so an upgrade is a symlink switch.
KEYCLOAK_GROUP = KEYCLOAK_USER
KEYCLOAK_DB_USER = KEYCLOAK_DB
KEYCLOAK_RELEASES = f"{KEYCLOAK_HOME}/releases"
KEYCLOAK_CURRENT = f"{KEYCLOAK_HOME}/current"
KEYCLOAK_CONFIG_DIR = f"{COUNSELKIT_ETC}/keycloak"
KEYCLOAK_CONF = f"{KEYCLOAK_CONFIG_DIR}/keycloak.conf"
KEYCLOAK_ENV_FILE = f"{KEYCLOAK_CONFIG_DIR}/keycloak.env"  # secrets for the unit, 0640 root:keycloak
# The bootstrap admin's password is only needed until the first start has created the admin: it lives in its own
# file (0600 root; systemd reads EnvironmentFile= as root), which the deploy deletes once Keycloak is healthy and
# then marks with the stamp, so that no later deploy writes it again.
KEYCLOAK_BOOTSTRAP_ENV_FILE = f"{KEYCLOAK_CONFIG_DIR}/bootstrap.env"
KEYCLOAK_BOOTSTRAP_STAMP = f"{KEYCLOAK_CONFIG_DIR}/admin-bootstrapped"
KEYCLOAK_DATA_DIR = f"{COUNSELKIT_LIB}/keycloak"  # Keycloak's data/ (tmp, transaction logs)
KEYCLOAK_ARCHIVE_DIR = f"{COUNSELKIT_LIB}/artifacts"  # verified release archives on the host
KEYCLOAK_UNIT = "keycloak.service"
KEYCLOAK_HTTP_HOST = "127.0.0.1"
KEYCLOAK_PATH = "/auth"  # http-relative-path; nginx proxies https://<slug>.<domain>/auth/ to it
KEYCLOAK_ADMIN_USER = "counselkit-admin"  # bootstrap admin of the master realm
KEYCLOAK_THEME_PREFIX = "counselkit-"  # login theme per tenant: counselkit-<slug>
# Java runtime per distribution release (Keycloak 26 supports OpenJDK 17 and 21).
KEYCLOAK_JAVA_PACKAGES = {"debian-12": "openjdk-17-jre-headless", "ubuntu-24.04": "openjdk-21-jre-headless"}
# Realm roles: counsellors use seats; org admins (from tenants.yaml) manage the counsellor accounts.
KEYCLOAK_COUNSELLOR_ROLE = "counsellor"
KEYCLOAK_ORG_ADMIN_ROLE = "org-admin"
KEYCLOAK_BROWSER_FLOW = "counselkit browser"  # copy of "browser" with OTP always required
SYNAPSE_OIDC_IDP_ID = "keycloak"  # idp_id in synapse-oidc.yaml.j2; Synapse names the provider oidc-<idp_id>
KEYCLOAK_SMTP_PASSWORD_SECRET = "smtp_password"  # platform secret, provider-supplied, only if email.user is set
ARTIFACTS_ENV = "COUNSELKIT_ARTIFACTS"  # local directory holding release archives under their upstream names


def keycloak_release(version: str) -> str:
    """Where a Keycloak release is unpacked (KEYCLOAK_CURRENT links the one in use)."""
    return f"{KEYCLOAK_RELEASES}/keycloak-{version}"


def keycloak_theme(slug: str) -> str:
    return f"{KEYCLOAK_THEME_PREFIX}{slug}"


def synapse_oidc_config(slug: str) -> str:
    """The extra Synapse config file with the tenant's OIDC provider (loaded with a second --config-path)."""
    return f"{SYNAPSE_CONFIG_ROOT}/{slug}/oidc.yaml"

# --- Host files and system names used by the deploy (deploy/, templates/, roles/) ---------------------------
ROOT_USER = "root"  # the deploy's login only for a host's first (bootstrap) run; then an admin with sudo
def admin_home(name: str) -> str:
    """An admin's home (created by the base deploy; login.defs HOME_MODE 0750 keeps it private). Deploys through
    sudo upload there first: pyinfra's default, /tmp, would hold each uploaded file world-readable for a moment."""
    return f"/home/{name}"


ADMIN_GROUP = "counselkit-admins"  # the platform admins from tenants.yaml; sudo without password (no passwords exist)
SUDOERS_ADMINS = "/etc/sudoers.d/counselkit-admins"
# root's keys: exactly those of platform.admins (plus the site's own, e.g. the lab key); managed by the deploy.
ROOT_SSH_DIR = "/root/.ssh"
ROOT_AUTHORIZED_KEYS = f"{ROOT_SSH_DIR}/authorized_keys"
SSHD_CONFIG = "/etc/ssh/sshd_config"
SSHD_HOST_KEYS = ("/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key")
SYSCTL_NET_FILE = "/etc/sysctl.d/60-counselkit-net.conf"  # per network namespace: applies in containers too
SYSCTL_KERNEL_FILE = "/etc/sysctl.d/61-counselkit-kernel.conf"  # kernel-wide: not settable inside a container
NFTABLES_CONF = "/etc/nftables.conf"
NFTABLES_TABLE = "counselkit"  # table inet counselkit
# After an egress rule file changed: check the whole ruleset and load it, where nftables runs at all (a container
# without CAP_NET_ADMIN has it enabled but not running).
NFTABLES_RELOAD = (f"if systemctl -q is-active nftables.service; then nft -c -f {NFTABLES_CONF} "
                   "&& systemctl reload nftables.service; fi")
AUDIT_RULES = "/etc/audit/rules.d/counselkit.rules"
JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/counselkit.conf"
JOURNAL_DIR = "/var/log/journal"
APT_PROXY_CONF = "/etc/apt/apt.conf.d/01counselkit-proxy"
APT_AUTO_UPGRADES = "/etc/apt/apt.conf.d/20auto-upgrades"
APT_UNATTENDED_CONF = "/etc/apt/apt.conf.d/52counselkit-unattended-upgrades"
PIP_CONF = "/etc/pip.conf"
PROXY_CONFIG_MODE = "0600"  # apt and pip proxy files: platform.proxy may carry credentials (root reads them)
LOGIN_DEFS = "/etc/login.defs"
CORE_LIMITS = "/etc/security/limits.d/60-counselkit-core.conf"
COREDUMP_DROPIN = "/etc/systemd/coredump.conf.d/counselkit.conf"
SHELL_PROFILE = "/etc/profile.d/counselkit.sh"
MODPROBE_BLACKLIST = "/etc/modprobe.d/counselkit-blacklist.conf"
ISSUE = "/etc/issue"
ISSUE_NET = "/etc/issue.net"
FAIL2BAN_JAIL = "/etc/fail2ban/jail.d/counselkit.local"
AIDE_DB_DIR = "/var/lib/aide"  # owned by AIDE's account; all the sandboxed baseline unit may write
AIDE_DB = f"{AIDE_DB_DIR}/aide.db"
# Host reports by mail (platform.smtp.reports_to): msmtp as sendmail, mail(1) for AIDE's daily check, which runs as
# _aide without setuid (it reads the root-only msmtprc through its CAP_DAC_READ_SEARCH).
MAIL_PACKAGES = ("msmtp-mta", "bsd-mailx")
MSMTP_CONF = "/etc/msmtprc"  # 0600 root: holds the relay password
MAIL_ALIASES = f"{COUNSELKIT_ETC}/mail-aliases"  # root and every other local recipient -> reports_to
AIDE_DEFAULTS = "/etc/default/aide"
AIDE_CONF = "/etc/aide/aide.conf"
AIDE_DB_NEW = f"{AIDE_DB_DIR}/aide.db.new"  # where `aide --init` writes (Debian's aide.conf database_out)
AIDE_USER = "_aide"  # Debian's AIDE account (aide-common); the daily check runs as it
# Packages with an upgrade from the security archive ("Inst <pkg> [old] (new Debian-Security:12/stable-security ...").
PENDING_SECURITY_UPDATES = ("apt-get --dry-run --show-upgraded upgrade 2>/dev/null | grep '^Inst ' | grep -- '-security' "
                            "| cut -d' ' -f2 || true")
AIDE_INIT_UNIT = "counselkit-aide-init.service"
AIDE_INIT_UNIT_PATH = f"/etc/systemd/system/{AIDE_INIT_UNIT}"
POSTGRES_VERSION = 15
POSTGRES_CONF_DIR = f"/etc/postgresql/{POSTGRES_VERSION}/main"
POSTGRES_CONF_DROPIN = f"{POSTGRES_CONF_DIR}/conf.d/counselkit.conf"
POSTGRES_HBA = f"{POSTGRES_CONF_DIR}/pg_hba.conf"
POSTGRES_IDENT = f"{POSTGRES_CONF_DIR}/pg_ident.conf"
# Peer map of the local superuser connection: OS user postgres, and root for the backup job's pg_dump (the
# sandboxed backup unit may not switch users; root could become postgres anyway).
POSTGRES_PEER_MAP = "counselkit"
POSTGRES_PEER_USERS = ("postgres", "root")
POSTGRES_SUPERUSER = "postgres"
POSTGRES_UNIT = f"postgresql@{POSTGRES_VERSION}-main.service"
POSTGRES_HOST = "127.0.0.1"
# psql as the local superuser (peer authentication, maintenance database), unaligned tuples only; a query follows
# as -c SQL, a script as -f - on stdin (never a secret in argv). runuser: root needs no sudo to become postgres.
POSTGRES_PSQL = ("runuser", "-u", POSTGRES_SUPERUSER, "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                 "-d", "postgres", "-At")
SYNAPSE_UNIT_PATH = f"/etc/systemd/system/{SYNAPSE_UNIT_TEMPLATE}"
SYNAPSE_PIP_EXTRA_PACKAGES = ("psycopg2-binary==2.9.13",)  # wheel: no compiler on the host; Synapse checks no postgres extra
# Synapse's optional features the standard installation uses: "oidc" (authlib) for Keycloak SSO; without it Synapse
# refuses to start once an OIDC provider is configured.
SYNAPSE_EXTRAS = ("oidc",)
# The complete, hashed set of wheels per Synapse release (scripts/synapse_requirements.py), relative to the
# repository; on the host next to the venv, installed with --require-hashes --no-deps.
SYNAPSE_REQUIREMENTS_DIR = "requirements"
SYNAPSE_REQUIREMENTS_HOST = "/opt/counselkit/synapse-requirements.txt"
SYNAPSE_REQUIREMENTS_STAMP = f"{SYNAPSE_VENV}/.counselkit-requirements.sha256"  # written after a complete install


def synapse_requirements_file(version: str) -> str:
    return f"{SYNAPSE_REQUIREMENTS_DIR}/synapse-{version}.txt"


# The counselling module (issue 15): a Python package loaded by every tenant's Synapse (docs/architecture.md). Its
# source lives in the repository (SYNAPSE_MODULE_SOURCE), is copied file by file below SYNAPSE_MODULE_ROOT, and the
# unit puts that directory on the Synapse venv's PYTHONPATH; the OpenAPI document is shipped next to the code.
SYNAPSE_MODULE_SOURCE = "synapse_module"  # relative to the repository
SYNAPSE_MODULE_PACKAGE = "counselkit_synapse"
SYNAPSE_MODULE_FILES = ("__init__.py", "logic.py", "store.py", "module.py", "notices.py")
SYNAPSE_MODULE_CLASS = f"{SYNAPSE_MODULE_PACKAGE}.module.CounsellingModule"
SYNAPSE_MODULE_ROOT = "/opt/counselkit/synapse-modules"
SYNAPSE_MODULE_DIR = f"{SYNAPSE_MODULE_ROOT}/{SYNAPSE_MODULE_PACKAGE}"
# Idle memory per tenant (docs/memory.md, budget 100 MiB PSS): Synapse's interpreter runs without docstrings and
# asserts (-OO) and without the column tables of tracebacks (-X no_debug_ranges): measured there, the largest lever on Synapse.
# Its bytecode is compiled that way once per deploy into SYNAPSE_PYCACHE (root's, read-only for the tenants): Python
# does not write bytecode there itself, it would compile every module anew at each start.
SYNAPSE_PYCACHE = "/opt/counselkit/synapse-pycache"
SYNAPSE_PYTHON_FLAGS = ("-OO", "-X", "no_debug_ranges", "-X", f"pycache_prefix={SYNAPSE_PYCACHE}")
# The deploy's compile step (both engines): the standard library, the venv and the counselling module, with exactly
# the interpreter flags of the unit (the bytecode is only used with the same optimisation level). -I: no PYTHON*
# variables and no user site as root. A file that does not compile is skipped: Python does the same at import.
SYNAPSE_BYTECODE_COMPILE = (
    f"{SYNAPSE_VENV}/bin/python", "-I", *SYNAPSE_PYTHON_FLAGS, "-c",
    "import compileall, sys, sysconfig\n"
    "paths = sysconfig.get_paths()\n"
    "for root in (paths['stdlib'], paths['purelib'], *sys.argv[1:]):\n"
    "    compileall.compile_dir(root, quiet=2, workers=0)\n",
    SYNAPSE_MODULE_ROOT,
)
COUNSELLING_OPENAPI_SOURCE = "docs/api/counselling.openapi.json"  # served by the module as openapi.json
COUNSELLING_OPENAPI_HOST = f"{SYNAPSE_MODULE_DIR}/openapi.json"
COUNSELLING_PATH = "/_counselkit/"  # nginx proxies it to the tenant's Synapse like /_matrix/
COUNSELLING_SERVICE_LOCALPART = "counselkit"  # @counselkit:<server_name> creates the enquiry rooms
# Localpart prefix of the operator's short-lived Synapse admins (counselkit access, counsellor add --email): never
# counsellors, never a seat (the counselling module's config.operator_prefixes).
OPERATOR_ACCOUNT_PREFIX = "counselkit-ops-"


# A centre's logo (tenants.yaml branding.logo, a file next to tenants.yaml): the types the web app shows, and
# where the deploy puts it in the tenant's web root (served as /branding/logo.<ext>).
LOGO_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}
WEBAPP_BRANDING_DIR = "branding"
# The text colours the web app puts on and beside the brand colours (counselkit/webapp/config.py hands them to the
# app; `validate` warns when a centre's colours miss WCAG AA contrast with them, counselkit/model/contrast.py).
BRAND_ON_PRIMARY_COLOR = "#ffffff"  # text on primary_color: buttons, header
BRAND_TEXT_COLOR = "#1d1d1f"  # body text on secondary_color, the page background


def webapp_logo_path(logo: str) -> str:
    """The URL path of a tenant's logo in its web root, from branding.logo (its type by its suffix)."""
    return f"/{WEBAPP_BRANDING_DIR}/logo{logo[logo.rfind('.'):].lower()}"


def synapse_module_files() -> dict[str, str]:
    """Repository path -> host path of every file of the counselling module (code and its OpenAPI document)."""
    files = {f"{SYNAPSE_MODULE_SOURCE}/{SYNAPSE_MODULE_PACKAGE}/{name}": f"{SYNAPSE_MODULE_DIR}/{name}"
             for name in SYNAPSE_MODULE_FILES}
    files[COUNSELLING_OPENAPI_SOURCE] = COUNSELLING_OPENAPI_HOST
    return files


SYNAPSE_SECRETS = ("synapse_db_password", "registration_shared_secret", "macaroon_secret_key", "form_secret")
NGINX_LOG_FORMAT = "counselkit"  # no query string, referer or user agent: tokens and OIDC codes never reach a log
NGINX_LOGROTATE = "/etc/logrotate.d/nginx"  # replaces Debian's (14 days) with LOG_RETENTION_DAYS
NGINX_CONF = "/etc/nginx/nginx.conf"  # replaced whole: Debian's sets ssl_protocols incl. TLS 1.0/1.1
NGINX_HEADERS_SNIPPET = "/etc/nginx/snippets/counselkit-security-headers.conf"
NGINX_SITES_DIR = "/etc/nginx/sites-enabled"
NGINX_UNIT = "nginx.service"
NGINX_DEFAULT_SITE = f"{NGINX_SITES_DIR}/default"  # Debian's stock site, removed
NGINX_CATCHALL_SITE = f"{NGINX_SITES_DIR}/000-counselkit-default.conf"
ACME_WEBROOT = "/var/www/acme"  # certbot --webroot answers /.well-known/acme-challenge/ from here
LETSENCRYPT_LIVE = "/etc/letsencrypt/live"
INTERNAL_CA_CERT = "/usr/local/share/ca-certificates/counselkit-internal-ca.crt"
TENANT_TLS_SECRET = "tls_internal"  # derived, not generated: key + certificate issued from platform.internal_ca


def tenant_site(slug: str) -> str:
    """The tenant's nginx vhost file."""
    return f"{NGINX_SITES_DIR}/{slug}.conf"


def tenant_synapse_files(slug: str) -> dict[str, str]:
    config_dir = tenant_names(slug)["config_dir"]
    return {
        "homeserver_yaml": f"{config_dir}/homeserver.yaml",
        "log_config": f"{config_dir}/log.config",  # not *.yaml: Synapse loads every *.yaml in config_dir
        # The instance's drop-in (limits, address filter) and its nftables egress rules (included by nftables.conf).
        "unit_dropin": f"/etc/systemd/system/matrix-synapse@{slug}.service.d/counselkit.conf",
        "egress_rules": f"{NFTABLES_EGRESS_DIR}/synapse-{slug}.nft",
    }


def tenant_tls_paths(slug: str, domain: str, mode: str) -> dict[str, str]:
    """Certificate and key nginx uses for a tenant: ACME (certbot's live dir) or issued by the internal CA."""
    if mode == "acme":
        return {"cert": f"{LETSENCRYPT_LIVE}/{domain}/fullchain.pem", "key": f"{LETSENCRYPT_LIVE}/{domain}/privkey.pem"}
    return {"cert": f"{TLS_DIR}/{slug}/fullchain.pem", "key": f"{TLS_DIR}/{slug}/privkey.pem"}
