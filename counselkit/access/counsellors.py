"""`counselkit counsellor add`: a counsellor's Matrix account where no Keycloak runs (the lab, a site without the
Keycloak release archive).

In production counsellors log in through Keycloak (OIDC, OTP) and their Matrix account appears at the first SSO
login. Without Keycloak the counselling flow still needs counsellors: this command registers a normal, non-admin
Matrix account through Synapse's shared-secret admin registration (POST /_synapse/admin/v1/register, the tenant's
registration_shared_secret from the secrets store), over the same path `counselkit access disable` uses: requests
to the tenant's Synapse on the host's loopback through `ssh ... curl --config -` (or --synapse-url). The password
is read from standard input and only ever travels in the curl config on ssh's standard input: never in an argv, a
log or the output. `counselkit access disable` offboards such an account like any other.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from .. import layout
from ..options import tenants_option
from ..plan import Plan, load_plan
from . import revoke
from .commands import _synapse_target, _synapse_url_option

EXIT_REFUSED = 2
MIN_PASSWORD_LENGTH = 12
# What Synapse accepts as a registered localpart (synapse/handlers/register.py check_username): lower case only,
# no leading underscore (reserved for application services); at most 255 characters in the whole user id.
_LOCALPART = re.compile(r"[a-z0-9._=/+-]+")
# Localparts of accounts counselkit itself makes: a counsellor of that name would be mistaken for them.
RESERVED_PREFIXES = (revoke.TEMP_ADMIN_PREFIX,)
# The counselling module's service user, which creates the enquiry rooms.
RESERVED_NAMES = (layout.COUNSELLING_SERVICE_LOCALPART,)


class CounsellorError(Exception):
    """Bad input or a refusal; the message is for the operator (never holds the password)."""


def check_username(username: str) -> str:
    if not username:
        raise CounsellorError("USERNAME is empty")
    if not _LOCALPART.fullmatch(username):
        raise CounsellorError(f"USERNAME {username!r} is not a Matrix localpart: only a-z, 0-9 and . _ = / + - "
                              "(lower case)")
    if username.startswith("_"):
        raise CounsellorError(f"USERNAME {username!r} starts with '_' (reserved for application services)")
    if username in RESERVED_NAMES or username.startswith(RESERVED_PREFIXES):
        raise CounsellorError(f"USERNAME {username!r} is reserved for counselkit's own accounts")
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CounsellorError(f"the password on standard input is shorter than {MIN_PASSWORD_LENGTH} characters")
    if any(c in password for c in "\r\n\x00"):
        raise CounsellorError("the password holds a line break or NUL")
    return password


def read_password() -> str:
    """One line from standard input (no echo when it is a terminal); the line break is not part of it."""
    if sys.stdin.isatty():
        return click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def check_email(email: str) -> str:
    """The address the counselling module sends content-free enquiry notices to: one plain e-mail address."""
    from pydantic import TypeAdapter, ValidationError

    from ..model.types import Email

    try:
        return TypeAdapter(Email).validate_python(email)
    except ValidationError as exc:
        reason = exc.errors()[0].get("msg", "not an e-mail address")
        raise CounsellorError(f"--email {email[:80]!r}: {reason}") from None


def add_counsellor(plan: Plan, store: object, tenant_slug: str, username: str, password: str,
                   ssh_options: tuple[str, ...] = (), synapse_url: str | None = None,
                   email: str | None = None) -> str:
    """Register @username:<tenant domain> as a non-admin account, with `email` for the enquiry notices; the user
    id."""
    tenant, target = _synapse_target(plan, tenant_slug, ssh_options)
    shared_secret = store.get(tenant.secrets["registration_shared_secret"])  # type: ignore[attr-defined]
    if synapse_url:
        base, transport = synapse_url, revoke.http_transport
    else:
        base = f"http://{layout.SYNAPSE_BIND_HOST}:{tenant.synapse_port}"
        transport = revoke.ssh_curl_transport(revoke.target_ssh_argv(target))
    anonymous = revoke.SynapseClient(base, transport)
    try:
        _, answer = anonymous.call(revoke.NONCE_REQUEST)
        request = revoke.registration_request(shared_secret, str(answer.get("nonce", "")), username, password, admin=False)
        status, registered = anonymous.call(revoke.Request(request.method, request.path, request.body,
                                                           expect=(200, 400, 429)))
    except revoke.RevokeError as exc:
        raise CounsellorError(f"Matrix: {exc}") from None
    if status == 429:  # what Synapse answers when the counselling module refuses a registration (seats)
        raise CounsellorError(f"Matrix: @{username}:{tenant.domain} refused: all {tenant.tenant.seats} licensed "
                              f"counsellor seats of {tenant_slug} are taken (tenants.yaml seats; the centre's admins "
                              "were told by e-mail), or registrations are rate-limited just now. Deactivate a counsellor "
                              "account that is no longer used, or raise seats and deploy, then try again")
    if status == 400:
        if registered.get("errcode") == "M_USER_IN_USE":
            raise CounsellorError(f"Matrix: @{username}:{tenant.domain} exists already (nothing changed)")
        raise CounsellorError(f"Matrix: Synapse refused the registration: {registered.get('errcode', '')} "
                              f"{str(registered.get('error', ''))[:200]}")
    user_id = str(registered.get("user_id", f"@{username}:{tenant.domain}"))
    if email:
        try:
            with revoke.temporary_admin(base, shared_secret, transport) as admin:
                admin.call(revoke.synapse_email_request(user_id, email))
        except revoke.RevokeError as exc:
            raise CounsellorError(f"Matrix: {user_id} registered, but its e-mail address was not set: {exc}; set it "
                                  "with the Synapse admin API or offboard and add it again") from None
    return user_id


@click.group("counsellor")
def counsellor() -> None:
    """Counsellor accounts where no Keycloak runs (the lab); in production Keycloak creates them."""


@counsellor.command("add")
@tenants_option()
@click.argument("tenant")
@click.argument("username")
@click.option("--ssh-option", "ssh_options", multiple=True, metavar="ARG",
              help="Extra argument for ssh (the Synapse requests); repeatable.")
@click.option("--email", default=None, metavar="ADDRESS",
              help="The counsellor's e-mail address for content-free notices of new enquiries.")
@_synapse_url_option
def add(tenants_file: Path, tenant: str, username: str, ssh_options: tuple[str, ...], email: str | None,
        synapse_url: str | None) -> None:
    """Register USERNAME as a counsellor (normal Matrix account, not a server admin) of TENANT. The password is
    read from standard input (one line; prompted without echo on a terminal). With --email, new enquiries are
    announced to that address (tenants.yaml counselling.notify_counsellors, platform.smtp). Exit 2 if Synapse
    refused."""
    from ..problems import InputError
    from ..secrets import SecretsError, SecretStore

    try:
        check_username(username)
        if email is not None:
            email = check_email(email)
        plan = load_plan(tenants_file)
        if tenant not in {t.slug for t in plan.tenants()}:
            raise click.UsageError(f"no tenant {tenant} in {tenants_file}")
        password = check_password(read_password())
        store = SecretStore.open(tenants_file)
        user_id = add_counsellor(plan, store, tenant, username, password, ssh_options, synapse_url, email)
    except CounsellorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    except InputError as exc:
        raise click.ClickException(exc.summary()) from None
    except (SecretsError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    notices = f", notices of new enquiries to {email}" if email else ""
    click.echo(f"Matrix: {user_id} registered (counsellor, not a server admin{notices}); it logs in with its password")
