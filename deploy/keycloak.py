"""Keycloak on one host: Java, system user, PostgreSQL database, the pinned release archive, keycloak.conf,
sandboxed systemd unit, per-tenant login themes; then realms, clients and org admins via the Admin REST API;
and the Synapse OIDC file per tenant.

Packages, group and user, directories, the templated files (keycloak.conf, environment and bootstrap files, unit,
login themes), the daemon-reload and restart of what changed and the unit come from the component spec
(counselkit/components/keycloak.py), which roles/keycloak loops over too. The database SQL, the archive (fetch,
verify, upload, unpack), `kc.sh build`, the health wait and the bootstrap stamp are code, reading the spec's
``layout``.

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

from counselkit import layout, render
from counselkit.components import keycloak as keycloak_spec
from counselkit.keycloak import render as kc_render
from counselkit.keycloak.artifact import archive_name, fetch
from counselkit.pgscram import role_sql, role_state_sql, scram_verifier

from . import commands
from .common import in_container, put
from .components import Changed, install_accounts, install_directories, install_services, run_handlers
from .postgres import psql, psql_script

HEALTH_TIMEOUT_SECONDS = 240


def _host_plan(plan: Any) -> Any:
    name = host.data.get("counselkit_host") or host.name
    return plan.host(name)


def _java_package(spec: dict[str, Any]) -> str:
    """The spec's Java runtime for this host's distribution (ID-VERSION_ID of /etc/os-release)."""
    distro = host.get_fact(LinuxDistribution) or {}
    meta = distro.get("release_meta") or {}
    key = f"{meta.get('ID', '')}-{meta.get('VERSION_ID', '')}"
    try:
        return spec["java_packages"][key]
    except KeyError:
        raise RuntimeError(f"no Java runtime known for {key or 'this distribution'}; "
                           f"supported: {', '.join(spec['java_packages'])}") from None


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


def _changed(changed: Changed, handler: str | None, op: Any) -> None:
    if handler:
        changed.setdefault(handler, []).append(op)


def _put_files(files_: Any, data: dict[str, Any], secrets: Any, changed: Changed) -> None:
    """Spec files rendered with Keycloak's contexts (+ their secret values); nothing of them is printed."""
    for f in files_:
        ctx = kc_render.file_context(data, f.context, f.tenant, secrets.get)
        op = put(f"Keycloak: {f.dest}" + (" (secret)" if f.sensitive else ""), f.dest,
                 render.render(f.template, ctx), user=f.owner, group=f.group, mode=f.mode)
        _changed(changed, f.handler, op)


@deploy("Keycloak: install")
def install(plan: Any, secrets: Any, with_archive: bool = True) -> None:
    """The component spec (counselkit/components/keycloak.py), then the archive, build, start and health (code)."""
    vars = render.host_vars(plan, _host_plan(plan))
    component = keycloak_spec.keycloak(vars)
    spec = component.layout
    container = in_container()
    release, bootstrap, database = spec["release"], spec["bootstrap"], spec["database"]
    theme_files = [f for f in component.files if f.context == release["context"]]
    files_now = [f for f in component.files if f.context != release["context"]]

    apt.packages(name="Keycloak: Java runtime and packages", packages=[_java_package(spec), *component.packages],
                 no_recommends=True, update=True, cache_time=3600)
    install_accounts(component)
    install_directories(component)

    password = secrets.get(plan.platform_secrets["keycloak_db_password"])
    sql_file = put(f"Keycloak: database SQL (SCRAM verifier, {database['mode']} root)", database["sql_file"],
                   _database_sql(password), mode=database["mode"])
    # root opens the file, psql (as postgres) reads it on stdin — when the SQL changed, the database is missing or
    # the role is missing or drifted (attributes, or a verifier that does not verify the current secret: the test
    # of the tenants' roles, counselkit.pgscram.role_sql), as roles/keycloak does. The SQL is idempotent, but a run
    # on every deploy would be a change each time.
    role_state = host.get_fact(Command, psql(role_state_sql([database["role"]])) + " 2>/dev/null || true") or ""
    role_drifted = bool(role_sql(database["role"], password, role_state.splitlines()))
    db_present = (host.get_fact(Command, psql(
        f"SELECT count(*) FROM pg_database WHERE datname = '{database['db']}'") + " 2>/dev/null || true") or "").strip() == "1"
    server.shell(name="Keycloak: PostgreSQL role and database", commands=[psql_script(database["sql_file"])],
                 _if=lambda: sql_file.did_change() or role_drifted or not db_present)

    # the bootstrap admin file only while the admin was never created (the stamp is missing)
    first_start = host.get_fact(File, path=bootstrap["stamp"]) is None
    changed: Changed = {}
    _put_files([f for f in files_now if first_start or f.dest != bootstrap["file"]], vars["keycloak"], secrets,
               changed)
    if not with_archive:
        return
    artifact = plan.platform.artifacts.keycloak
    if artifact is None:
        raise RuntimeError("platform.artifacts.keycloak is not set in tenants.yaml (see docs/keycloak.md)")

    local = fetch(artifact)  # verified against the pinned sha256 on the control machine
    remote = f"{release['archive_dir']}/{archive_name(release['version'])}"
    upload = files.put(name=f"Keycloak: upload {archive_name(release['version'])}", src=str(local), dest=remote,
                       user="root", group="root", mode="0600")
    _changed(changed, release["handler"], upload)
    server.shell(name=f"Keycloak: unpack {release['version']} (checksum verified again on the host)",
                 commands=[commands.keycloak_unpack(release["dir"], remote, artifact.sha256, release["data_dir"])])
    _put_files(theme_files, vars["keycloak"], secrets, changed)  # into the unpacked release
    current = files.link(name="Keycloak: current release", path=release["current"], target=release["dir"])
    _changed(changed, release["handler"], current)
    # Build-time options (db, health, metrics, relative path, cache) are baked with `kc.sh build`; the unit
    # runs `start --optimized` on a read-only home. Rebuild only when keycloak.conf or the release changed.
    server.shell(name="Keycloak: build (when keycloak.conf or the release changed)", commands=[
        f"stamp={release['dir']}/lib/quarkus/.counselkit-build; want=$(sha256sum {release['conf']} | cut -d' ' -f1); "
        f"[ \"$(cat $stamp 2>/dev/null)\" = \"$want\" ] || "
        f"({release['dir']}/bin/kc.sh --config-file={release['conf']} build && echo $want > $stamp)",
    ])
    run_handlers(component, changed, container)  # daemon-reload, then the restart of what changed
    install_services(component, container)
    server.shell(name="Keycloak: wait until healthy (management port, loopback)", commands=[
        f"for i in $(seq 1 {HEALTH_TIMEOUT_SECONDS // 2}); do "
        f"curl -fsS -o /dev/null {spec['health_url']} && exit 0; "
        f"sleep 2; done; echo 'Keycloak not ready: journalctl -u {layout.KEYCLOAK_UNIT}' >&2; exit 1",
    ])
    # Healthy means the start is over, and with it the bootstrap (Keycloak creates the admin before it is ready).
    files.file(name="Keycloak: bootstrap admin password removed", path=bootstrap["file"], present=False)
    files.file(name="Keycloak: admin bootstrapped (stamp)", path=bootstrap["stamp"], present=True,
               user="root", group="root", mode=bootstrap["stamp_mode"])


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
                   kc_render.synapse_oidc(plan, tenant, secrets.get(tenant.secrets["oidc_client_secret"])),
                   user=tenant.unix_user, group=tenant.unix_user, mode="0600")
        if restart:
            systemd.service(name=f"Synapse {tenant.slug}: restart for OIDC change", service=tenant.unit,
                            restarted=True, _if=any_changed(oidc))
