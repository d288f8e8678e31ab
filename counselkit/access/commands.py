"""`counselkit access`: the report (accounts, 2FA, seats per tenant) and disable/enable of one account (offboarding)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import layout
from ..keycloak.accounts import TenantAccess, collect
from ..keycloak.admin import KeycloakUnavailable, host_admin
from ..options import tenants_option
from ..plan import Plan, load_plan

EXIT_UNREACHABLE = 2
EXIT_OVER_SEATS = 3


def gather(plan: Plan, admin_password: str, tenants: tuple[str, ...] = (), ssh_options: tuple[str, ...] = (),
           url: str | None = None, opener: Callable[..., object] = host_admin) -> list[TenantAccess]:
    """Read every selected tenant's realm, one SSH tunnel per host."""
    wanted = set(tenants)
    unknown = wanted - {t.slug for t in plan.tenants()}
    if unknown:
        raise click.UsageError(f"no tenant {', '.join(sorted(unknown))} in tenants.yaml")
    result: list[TenantAccess] = []
    for host in plan.hosts:
        selected = [t for t in host.tenants if not wanted or t.slug in wanted]
        if not selected:
            continue
        with opener(plan, host, admin_password, ssh_options=ssh_options, url=url) as admin:  # type: ignore[attr-defined]
            result.extend(collect(admin, tenant) for tenant in selected)
    return result


def table(report: list[TenantAccess]) -> str:
    lines: list[str] = []
    for access in report:
        state = "REALM MISSING (not provisioned)" if access.realm_missing else (
            f"OVER by {access.over_seats}" if access.over_seats else "ok")
        lines.append(f"{access.slug} — {access.name} (host {access.host})")
        lines.append(f"  seats used {access.seats_used} of {access.seats_licensed} licensed: {state}; "
                     f"2FA completed {access.otp_completed} of {len(access.accounts)} accounts")
        if access.accounts:
            header = ("USERNAME", "NAME", "EMAIL", "ROLE", "ENABLED", "2FA", "PENDING", "CREATED")
            rows = [header] + [(
                a.username, a.name, a.email, "org admin" if a.org_admin else "counsellor",
                "yes" if a.enabled else "no", "yes" if a.otp else "NO", ",".join(a.pending) or "-", a.created,
            ) for a in access.accounts]
            widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
            lines += ["  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


CSV_FIELDS = ("tenant", "name", "host", "seats_licensed", "seats_used", "username", "account_name", "email",
              "role", "enabled", "otp", "email_verified", "pending", "created", "counts_as_seat")


def to_csv(report: list[TenantAccess]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for access in report:
        for a in access.accounts or [None]:
            base = [access.slug, access.name, access.host, access.seats_licensed, access.seats_used]
            if a is None:
                writer.writerow(base + [""] * (len(CSV_FIELDS) - len(base)))
                continue
            writer.writerow(base + [a.username, a.name, a.email, "org_admin" if a.org_admin else "counsellor",
                                    str(a.enabled).lower(), str(a.otp).lower(), str(a.email_verified).lower(),
                                    " ".join(a.pending), a.created, str(a.counts_as_seat).lower()])
    return buffer.getvalue()


@click.group("access")
def access() -> None:
    """Accounts ("Zugänge") in Keycloak: who exists, who completed 2FA, seats used vs licensed."""


@access.command("report")
@tenants_option(positional=True)
@click.option("--tenant", "tenants", multiple=True, help="Only this tenant (slug); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per account (for the office's spreadsheet).")
@click.option("--ssh-option", "ssh_options", multiple=True, metavar="ARG",
              help="Extra argument for ssh (the tunnel to each host), e.g. --ssh-option=-i --ssh-option=KEY; repeatable.")
@click.option("--keycloak-url", help="Use this Keycloak base URL (e.g. http://127.0.0.1:8080/auth) instead of an SSH tunnel.")
@click.option("--fail-on-overrun", is_flag=True, help=f"Exit {EXIT_OVER_SEATS} when a tenant uses more seats than licensed.")
def report(tenants_file: Path, tenants: tuple[str, ...], as_json: bool, as_csv: bool, ssh_options: tuple[str, ...],
           keycloak_url: str | None, fail_on_overrun: bool) -> None:
    """Per tenant: accounts, 2FA status, seats used vs licensed (read-only; needs the secrets store)."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    from ..secrets import SecretStore

    plan = load_plan(tenants_file)
    password = SecretStore.open(tenants_file).get(plan.platform_secrets["keycloak_admin_password"])
    try:
        result = gather(plan, password, tenants, ssh_options, keycloak_url)
    except KeycloakUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo("the access report needs every host's Keycloak running (deploy it first, or check SSH access)", err=True)
        sys.exit(EXIT_UNREACHABLE)
    if as_json:
        click.echo(json.dumps([a.to_dict() for a in result], indent=2, ensure_ascii=False))
    elif as_csv:
        click.echo(to_csv(result), nl=False)
    else:
        click.echo(table(result), nl=False)
    if fail_on_overrun and any(a.over_seats for a in result):
        sys.exit(EXIT_OVER_SEATS)


EXIT_PARTLY_FAILED = 2


def _synapse_target(plan: Plan, tenant_slug: str, ssh_options: tuple[str, ...]) -> tuple[Any, Any]:
    from ..keycloak.tunnel import SshTarget

    tenant = plan.tenant(tenant_slug)
    host = plan.host(tenant.host)
    return tenant, SshTarget(host.address, host.ssh_port, host.ssh_user, ssh_options)


def switch_access(plan: Plan, store: Any, tenant_slug: str, username: str, enable: bool, ssh_options: tuple[str, ...] = (),
                  keycloak_url: str | None = None, synapse_url: str | None = None) -> tuple[list[str], list[str]]:
    """Keycloak first (no new login), then Synapse (existing sessions). (done lines, error lines); idempotent.

    A failed part does not stop the other: revoking what can be revoked beats revoking nothing."""
    from keycloak.exceptions import KeycloakError

    from . import revoke

    tenant, target = _synapse_target(plan, tenant_slug, ssh_options)
    done: list[str] = []
    errors: list[str] = []
    keycloak_user_id: str | None = None
    if plan.platform.artifacts.keycloak is None:
        done.append("Keycloak: not part of this site (platform.artifacts.keycloak unset): skipped")
    else:
        try:
            password = store.get(plan.platform_secrets["keycloak_admin_password"])
            with host_admin(plan, plan.host(tenant.host), password, ssh_options=ssh_options, url=keycloak_url) as admin:
                user = revoke.find_keycloak_user(admin, tenant.keycloak_realm, username)
                if user is None:
                    errors.append(f"Keycloak: no account '{username}' in realm {tenant.keycloak_realm}")
                else:
                    keycloak_user_id = str(user["id"])
                    admin.change_current_realm(tenant.keycloak_realm)
                    revoke.apply_keycloak(admin, tenant.keycloak_realm, keycloak_user_id, enable)
                    admin.change_current_realm("master")
                    done.append(f"Keycloak: {username} in realm {tenant.keycloak_realm} "
                                + ("enabled" if enable else "disabled, its sessions ended"))
        except (KeycloakUnavailable, revoke.RevokeError) as exc:
            errors.append(f"Keycloak: {exc}")
        except KeycloakError as exc:  # python-keycloak's answer errors: status only, never a request body
            errors.append(f"Keycloak: answered {exc.response_code} for {username} in realm {tenant.keycloak_realm}")
    shared_secret = store.get(tenant.secrets["registration_shared_secret"])
    if synapse_url:
        base, transport = synapse_url, revoke.http_transport
    else:
        base = f"http://{layout.SYNAPSE_BIND_HOST}:{tenant.synapse_port}"
        transport = revoke.ssh_curl_transport(revoke.target_ssh_argv(target))
    try:
        with revoke.temporary_admin(base, shared_secret, transport) as admin:
            user_id = revoke.resolve_user_id(admin, username, tenant.domain, keycloak_user_id)
            done.append(revoke.apply_synapse(admin, user_id, enable).line(enable))
    except revoke.RevokeError as exc:
        errors.append(f"Matrix: {exc}")
    return done, errors


def _switch_command(tenants_file: Path, tenant: str, username: str, enable: bool, ssh_options: tuple[str, ...],
                    keycloak_url: str | None, synapse_url: str | None) -> None:
    from ..problems import InputError
    from ..secrets import SecretStore, SecretsError

    try:
        plan = load_plan(tenants_file)
        if tenant not in {t.slug for t in plan.tenants()}:
            raise click.UsageError(f"no tenant {tenant} in {tenants_file}")
        store = SecretStore.open(tenants_file)
    except InputError as exc:
        raise click.ClickException(exc.summary()) from None
    except (SecretsError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        done, errors = switch_access(plan, store, tenant, username, enable, ssh_options, keycloak_url, synapse_url)
    except SecretsError as exc:
        raise click.ClickException(str(exc)) from None
    for line in done:
        click.echo(line)
    for line in errors:
        click.echo(f"error: {line}", err=True)
    if errors:
        click.echo("nothing is half-done that a re-run would not finish: run the command again once the cause is fixed",
                   err=True)
        sys.exit(EXIT_PARTLY_FAILED)


_ssh_option = click.option("--ssh-option", "ssh_options", multiple=True, metavar="ARG",
                           help="Extra argument for ssh (Keycloak tunnel, Synapse requests); repeatable.")
_keycloak_url_option = click.option("--keycloak-url", help="Keycloak base URL instead of an SSH tunnel.")
_synapse_url_option = click.option("--synapse-url", help="The tenant's Synapse listener URL instead of requests through ssh.")


def _switch_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed((click.argument("tenant"), click.argument("username"), _ssh_option,
                            _keycloak_url_option, _synapse_url_option)):
        command = option(command)
    return tenants_option()(command)


@access.command("disable")
@_switch_options
def disable(tenants_file: Path, tenant: str, username: str, ssh_options: tuple[str, ...], keycloak_url: str | None,
            synapse_url: str | None) -> None:
    """Offboard USERNAME of TENANT now: Keycloak account disabled and logged out, Matrix account locked and its
    devices (so every access token) deleted. Idempotent; exit 2 if a part failed."""
    _switch_command(tenants_file, tenant, username, False, ssh_options, keycloak_url, synapse_url)


@access.command("enable")
@_switch_options
def enable(tenants_file: Path, tenant: str, username: str, ssh_options: tuple[str, ...], keycloak_url: str | None,
           synapse_url: str | None) -> None:
    """Undo `access disable`: Keycloak account enabled, Matrix account unlocked (deleted devices stay deleted)."""
    _switch_command(tenants_file, tenant, username, True, ssh_options, keycloak_url, synapse_url)
