"""Keycloak on one host: Java, system user, PostgreSQL database, the pinned release archive, keycloak.conf,
sandboxed systemd unit, per-tenant login themes; then realms, clients and org admins via the Admin REST API;
and the Synapse OIDC file per tenant.

Used from deploy/site.py (after postgresql, before synapse/nginx need it):

    keycloak.install(plan=plan, secrets=store)          # everything up to a healthy Keycloak
    keycloak.provision(plan=plan, secrets=store)        # realms, Synapse clients, org admins (idempotent)
    keycloak.synapse_oidc(plan=plan, secrets=store)     # <config_dir>/oidc.yaml per tenant (after synapse.install)

`plan` is counselkit.plan.Plan, `secrets` a counselkit.secrets.SecretStore (or anything with .get(ref)).
Secrets reach the host only inside files (0600/0640), never on a command line; pyinfra prints no file content.
`install(with_archive=False)` stops before the archive (what the lab tests check without the archive).
"""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.facts.server import Command, LinuxDistribution
from pyinfra.operations import apt, files, python, server, systemd
from pyinfra.operations.util import any_changed

from counselkit import layout
from counselkit.pgscram import scram_verifier
from counselkit.keycloak import render
from counselkit.keycloak.artifact import archive_name, fetch

from . import commands
from .common import directory, put
from .postgres import psql, psql_script

HEALTH_TIMEOUT_SECONDS = 240


def _host_plan(plan: Any) -> Any:
    name = host.data.get("counselkit_host") or host.name
    return plan.host(name)


def _java_package() -> str:
    distro = host.get_fact(LinuxDistribution) or {}
    meta = distro.get("release_meta") or {}
    key = f"{meta.get('ID', '')}-{meta.get('VERSION_ID', '')}"
    try:
        return layout.KEYCLOAK_JAVA_PACKAGES[key]
    except KeyError:
        raise RuntimeError(f"no Java runtime known for {key or 'this distribution'}; "
                           f"supported: {', '.join(layout.KEYCLOAK_JAVA_PACKAGES)}") from None


def _database_sql(password: str) -> str:
    # Idempotent; psql reads it from a 0600 root file on stdin. The file holds the SCRAM verifier made on the control
    # machine (deterministic: counselkit.pgscram), never the password itself, which so never reaches the host.
    role, db = layout.KEYCLOAK_DB_USER, layout.KEYCLOAK_DB
    quoted = scram_verifier(role, password)  # base64 and '$:' only
    return (
        f"SELECT 'CREATE ROLE {role} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}')\\gexec\n"
        f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{quoted}';\n"
        f"SELECT 'CREATE DATABASE {db} OWNER {role} ENCODING ''UTF8'' TEMPLATE template0' "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{db}')\\gexec\n"
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC;\n"
    )


@deploy("Keycloak: install")
def install(plan: Any, secrets: Any, with_archive: bool = True) -> None:
    artifact = plan.platform.artifacts.keycloak
    version = artifact.version if artifact else "unpinned"
    user, group = layout.KEYCLOAK_USER, layout.KEYCLOAK_GROUP

    apt.packages(name="Keycloak: Java runtime", packages=[_java_package(), "curl", "ca-certificates"],
                 no_recommends=True, update=True, cache_time=3600)
    server.group(name="Keycloak: group", group=group, system=True)
    server.user(name="Keycloak: system user", user=user, group=group, system=True, shell="/usr/sbin/nologin",
                home=layout.KEYCLOAK_DATA_DIR, ensure_home=False)
    for path, owner, mode in (
        (layout.KEYCLOAK_HOME, "root", "0755"),
        (layout.KEYCLOAK_RELEASES, "root", "0755"),
        (layout.KEYCLOAK_ARCHIVE_DIR, "root", "0700"),
        (layout.KEYCLOAK_CONFIG_DIR, "root", "0750"),
        (layout.KEYCLOAK_DATA_DIR, user, "0700"),
    ):
        directory(name=f"Keycloak: {path}", path=path, user=owner, group=group, mode=mode)

    sql = f"{layout.KEYCLOAK_CONFIG_DIR}/database.sql"
    sql_file = put("Keycloak: database SQL (SCRAM verifier, 0600 root)", sql,
                   _database_sql(secrets.get(plan.platform_secrets["keycloak_db_password"])), mode="0600")
    # root opens the file, psql (as postgres) reads it on stdin — when the SQL changed or the role or database is
    # missing, as roles/keycloak does (the SQL is idempotent, but a run on every deploy would be a change each time).
    present = (host.get_fact(Command, psql(
        f"SELECT count(*) FROM pg_roles r, pg_database d WHERE r.rolname = '{layout.KEYCLOAK_DB_USER}' "
        f"AND d.datname = '{layout.KEYCLOAK_DB}'") + " 2>/dev/null || true") or "").strip() == "1"
    server.shell(name="Keycloak: PostgreSQL role and database", commands=[psql_script(sql)],
                 _if=lambda: sql_file.did_change() or not present)

    conf = put("Keycloak: keycloak.conf", layout.KEYCLOAK_CONF, render.keycloak_conf(plan, version), group=group,
               mode="0640")
    env = put("Keycloak: environment file (secrets, 0640)", layout.KEYCLOAK_ENV_FILE, render.env_file(
        secrets.get(plan.platform_secrets["keycloak_db_password"])), group=group, mode="0640")
    bootstrap = []
    if host.get_fact(File, path=layout.KEYCLOAK_BOOTSTRAP_STAMP) is None:  # the admin was never created
        bootstrap.append(put("Keycloak: bootstrap admin (first start only, 0600 root)", layout.KEYCLOAK_BOOTSTRAP_ENV_FILE,
                             render.bootstrap_env_file(secrets.get(plan.platform_secrets["keycloak_admin_password"])),
                             mode="0600"))
    unit = put("Keycloak: systemd unit", f"/etc/systemd/system/{layout.KEYCLOAK_UNIT}", render.unit_file(version))
    if not with_archive:
        return
    if artifact is None:
        raise RuntimeError("platform.artifacts.keycloak is not set in tenants.yaml (see docs/keycloak.md)")

    local = fetch(artifact)  # verified against the pinned sha256 on the control machine
    remote = f"{layout.KEYCLOAK_ARCHIVE_DIR}/{archive_name(version)}"
    release = render.release_dir(version)
    upload = files.put(name=f"Keycloak: upload {archive_name(version)}", src=str(local), dest=remote,
                       user="root", group="root", mode="0600")
    extract = server.shell(name=f"Keycloak: unpack {version} (checksum verified again on the host)",
                           commands=[commands.keycloak_unpack(release, remote, artifact.sha256, layout.KEYCLOAK_DATA_DIR)])
    themes = []
    for tenant in _host_plan(plan).tenants:
        for relative, content in render.theme_files(tenant).items():
            themes.append(put(f"Keycloak: login theme {tenant.slug} {relative.rsplit('/', 1)[-1]}",
                              f"{release}/themes/{relative}", content))
    current = files.link(name="Keycloak: current release", path=layout.KEYCLOAK_CURRENT, target=release)
    # Build-time options (db, health, metrics, relative path, cache) are baked with `kc.sh build`; the unit
    # runs `start --optimized` on a read-only home. Rebuild only when keycloak.conf or the release changed.
    server.shell(name="Keycloak: build (when keycloak.conf or the release changed)", commands=[
        f"stamp={release}/lib/quarkus/.counselkit-build; want=$(sha256sum {layout.KEYCLOAK_CONF} | cut -d' ' -f1); "
        f"[ \"$(cat $stamp 2>/dev/null)\" = \"$want\" ] || "
        f"({release}/bin/kc.sh --config-file={layout.KEYCLOAK_CONF} build && echo $want > $stamp)",
    ])
    systemd.service(name="Keycloak: service enabled and running", service=layout.KEYCLOAK_UNIT, running=True,
                    enabled=True, daemon_reload=True)
    systemd.service(name="Keycloak: restart on change", service=layout.KEYCLOAK_UNIT, restarted=True,
                    _if=any_changed(conf, env, unit, upload, current, *themes, *bootstrap))
    server.shell(name="Keycloak: wait until healthy (management port, loopback)", commands=[
        f"for i in $(seq 1 {HEALTH_TIMEOUT_SECONDS // 2}); do "
        f"curl -fsS -o /dev/null http://127.0.0.1:{plan.keycloak_management_port}{layout.KEYCLOAK_PATH}/health/ready && exit 0; "
        f"sleep 2; done; echo 'Keycloak not ready: journalctl -u {layout.KEYCLOAK_UNIT}' >&2; exit 1",
    ])
    # Healthy means the start is over, and with it the bootstrap (Keycloak creates the admin before it is ready).
    files.file(name="Keycloak: bootstrap admin password removed", path=layout.KEYCLOAK_BOOTSTRAP_ENV_FILE, present=False)
    files.file(name="Keycloak: admin bootstrapped (stamp)", path=layout.KEYCLOAK_BOOTSTRAP_STAMP, present=True,
               user="root", group="root", mode="0600")


def _ssh_options() -> tuple[str, ...]:
    """The same SSH settings pyinfra uses for this host, for the tunnel to its loopback Keycloak."""
    options: list[str] = []
    if host.data.get("ssh_key"):
        options += ["-i", str(host.data.get("ssh_key")), "-o", "IdentitiesOnly=yes"]
    if host.data.get("ssh_known_hosts_file"):
        options += ["-o", f"UserKnownHostsFile={host.data.get('ssh_known_hosts_file')}"]
    strict = host.data.get("ssh_strict_host_key_checking")
    if strict:
        options += ["-o", f"StrictHostKeyChecking={strict}"]
    return tuple(options)


def _provision(plan: Any, host_name: str, secrets: Any, ssh_options: tuple[str, ...]) -> None:
    from counselkit.keycloak.admin import host_admin
    from counselkit.keycloak.provision import provision_host

    host_plan = plan.host(host_name)
    with host_admin(plan, host_plan, secrets.get(plan.platform_secrets["keycloak_admin_password"]), ssh_options) as admin:
        for result in provision_host(admin, plan, host_name, secrets.get):
            for line in result.lines():
                print(f"    [{host_name}] {line}")


@deploy("Keycloak: realms, Synapse clients, org admins")
def provision(plan: Any, secrets: Any) -> None:
    host_plan = _host_plan(plan)
    if not host_plan.tenants:
        return
    python.call(name="Keycloak: provision realms via the Admin REST API (SSH tunnel)", function=_provision,
                plan=plan, host_name=host_plan.name, secrets=secrets, ssh_options=_ssh_options())


@deploy("Keycloak: Synapse OIDC login per tenant")
def synapse_oidc(plan: Any, secrets: Any, restart: bool = True) -> None:
    for tenant in _host_plan(plan).tenants:
        oidc = put(f"Synapse {tenant.slug}: OIDC provider (secret, 0600)", layout.synapse_oidc_config(tenant.slug),
                   render.synapse_oidc(plan, tenant, secrets.get(tenant.secrets["oidc_client_secret"])),
                   user=tenant.unix_user, group=tenant.unix_user, mode="0600")
        if restart:
            systemd.service(name=f"Synapse {tenant.slug}: restart for OIDC change", service=tenant.unit,
                            restarted=True, _if=any_changed(oidc))
