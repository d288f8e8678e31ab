"""Ending a counsellor's access at once: disable the Keycloak account, lock the Matrix account, delete its devices.

Synapse's own session lifetime ends a disabled person's Matrix session within a working day; offboarding needs it
now. The steps are built as plain request lists (pure functions, unit-tested) and sent by small executors:

- Keycloak (Admin REST API): PUT /admin/realms/{realm}/users/{id} {"enabled": false}, then
  POST /admin/realms/{realm}/users/{id}/logout (ends the SSO sessions, so no new Matrix login through them).
- Synapse (admin API, Synapse >= 1.91): PUT /_synapse/admin/v2/users/{user_id} {"locked": true} — every request
  with one of the user's tokens is then refused (401 M_USER_LOCKED) and so is a login — and
  POST /_synapse/admin/v2/users/{user_id}/delete_devices with every device, which deletes the access tokens, so
  that unlocking later revives no old session.

The Synapse admin token comes from a temporary server admin registered through the shared-secret registration
API (the tenant's registration_shared_secret, from the secrets store, used in-process only); it is deactivated
again when the work is done, which deletes its token. No secret or token is ever put into argv or output.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets as random_source
import shlex
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .. import layout
from ..keycloak.tunnel import SshTarget

# Synapse's MXID_LOCALPART_ALLOWED_CHARACTERS (synapse/types/__init__.py); '=' is the escape character.
_LOCALPART_KEEP = re.compile(rb"[^_\-./+a-z0-9]")
TEMP_ADMIN_PREFIX = layout.OPERATOR_ACCOUNT_PREFIX  # the temporary admins this module registers (deactivated after use)
HTTP_TIMEOUT_SECONDS = 30


class RevokeError(Exception):
    """A step failed; the message names the step and the server's answer (never a secret)."""


def matrix_localpart(username: str) -> str:
    """The Matrix localpart Synapse gives a Keycloak account at its first SSO login.

    Mirrors Synapse's OIDC mapping as configured in templates/keycloak/synapse-oidc.yaml.j2: the localpart template
    `{{ user.preferred_username }}` is rendered and stripped, then map_username_to_mxid_localpart() lowercases
    ASCII letters, writes every byte outside [a-z0-9._-/+] (and '=') as '=xx' and escapes a leading '_' as '=5f'.
    """
    raw = username.strip().encode("utf-8").lower()  # bytes.lower(): ASCII only, as in Synapse
    mapped = _LOCALPART_KEEP.sub(lambda m: b"=%02x" % m.group()[0], raw)
    return re.sub(rb"^_", b"=5f", mapped).decode("ascii")


def matrix_user_id(username: str, server_name: str) -> str:
    return f"@{matrix_localpart(username)}:{server_name}"


@dataclass(frozen=True)
class Request:
    """One HTTP request of a step: method, path below the service's base URL, JSON body (or None)."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    expect: tuple[int, ...] = (200,)

    def describe(self) -> str:
        return f"{self.method} {self.path}"


def _keycloak_user_path(realm: str, user_id: str) -> str:
    return f"admin/realms/{quote(realm, safe='')}/users/{quote(user_id, safe='')}"


def keycloak_requests(realm: str, user_id: str, enable: bool) -> list[Request]:
    """Disable: account off, then its sessions ended. Enable: account on (sessions stay ended)."""
    path = _keycloak_user_path(realm, user_id)
    steps = [Request("PUT", path, {"enabled": enable}, expect=(204,))]
    if not enable:
        steps.append(Request("POST", f"{path}/logout", None, expect=(204,)))
    return steps


def _synapse_user_path(user_id: str) -> str:
    return f"/_synapse/admin/v2/users/{quote(user_id, safe='')}"


def synapse_user_request(user_id: str) -> Request:
    """Query the account first: PUT on a user that does not exist would create it."""
    return Request("GET", _synapse_user_path(user_id), expect=(200, 404))


def synapse_email_request(user_id: str, email: str) -> Request:
    """The account's third-party ids become exactly this e-mail address (no confirmation mail: the operator vouches
    for it, as Keycloak does for SSO accounts)."""
    return Request("PUT", _synapse_user_path(user_id), {"threepids": [{"medium": "email", "address": email}]})


def synapse_devices_request(user_id: str) -> Request:
    return Request("GET", f"{_synapse_user_path(user_id)}/devices")


def synapse_requests(user_id: str, device_ids: list[str], enable: bool) -> list[Request]:
    """Disable: lock, then delete every device (and so every access token). Enable: unlock only."""
    steps = [Request("PUT", _synapse_user_path(user_id), {"locked": not enable})]
    if not enable and device_ids:
        steps.append(Request("POST", f"{_synapse_user_path(user_id)}/delete_devices", {"devices": sorted(device_ids)}))
    return steps


def synapse_external_id_request(keycloak_user_id: str) -> Request:
    """Which Matrix user an SSO login of this Keycloak account (OIDC `sub` = Keycloak user id) is linked to."""
    provider = quote(f"oidc-{layout.SYNAPSE_OIDC_IDP_ID}", safe="")
    return Request("GET", f"/_synapse/admin/v1/auth_providers/{provider}/users/{quote(keycloak_user_id, safe='')}",
                   expect=(200, 404))


def registration_mac(shared_secret: str, nonce: str, username: str, password: str, admin: bool) -> str:
    """HMAC-SHA1 of nonce, username, password and admin flag, NUL-separated (Synapse's shared-secret registration)."""
    mac = hmac.new(shared_secret.encode("utf-8"), digestmod=hashlib.sha1)
    for i, part in enumerate((nonce, username, password, "admin" if admin else "notadmin")):
        if i:
            mac.update(b"\x00")
        mac.update(part.encode("utf-8"))
    return mac.hexdigest()


def registration_request(shared_secret: str, nonce: str, username: str, password: str, admin: bool = True) -> Request:
    body = {"nonce": nonce, "username": username, "password": password, "admin": admin,
            "mac": registration_mac(shared_secret, nonce, username, password, admin)}
    return Request("POST", "/_synapse/admin/v1/register", body)


NONCE_REQUEST = Request("GET", "/_synapse/admin/v1/register")


def deactivate_request(user_id: str) -> Request:
    return Request("POST", f"/_synapse/admin/v1/deactivate/{quote(user_id, safe='')}", {"erase": True})


Transport = Callable[[Request, str, "str | None"], tuple[int, bytes]]


def http_transport(request: Request, base_url: str, token: str | None) -> tuple[int, bytes]:
    """Straight HTTP (for --synapse-url); no proxy, whatever the environment says: the target is a listener of ours."""
    data = None if request.body is None else json.dumps(request.body).encode("utf-8")
    http = urllib.request.Request(base_url.rstrip("/") + request.path, data=data, method=request.method)
    http.add_header("Content-Type", "application/json")
    if token:
        http.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(http, timeout=HTTP_TIMEOUT_SECONDS) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise RevokeError(f"Synapse at {base_url} not reachable ({request.describe()}): {type(exc).__name__}") from None


def _curl_quote(value: str) -> str:
    """A double-quoted curl config parameter: backslash and quote escaped; line breaks cannot occur (JSON, URLs)."""
    if any(c in value for c in "\r\n\x00"):
        raise RevokeError("refusing a curl parameter with a line break or NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def curl_config(request: Request, base_url: str, token: str | None) -> str:
    """What curl on the host reads from standard input: URL, method, headers, body. The token and the body (which
    may hold the registration MAC and a password) so never appear in any argv."""
    lines = [f"url = {_curl_quote(base_url.rstrip('/') + request.path)}",
             f"request = {_curl_quote(request.method)}",
             f"header = {_curl_quote('Content-Type: application/json')}",
             f"max-time = {HTTP_TIMEOUT_SECONDS}",
             'write-out = "\\n%{http_code}"',
             "silent", "show-error", "noproxy = \"*\""]
    if token:
        lines.append(f"header = {_curl_quote(f'Authorization: Bearer {token}')}")
    if request.body is not None:
        lines.append(f"data-binary = {_curl_quote(json.dumps(request.body))}")
    return "\n".join(lines) + "\n"


CURL_ON_HOST = ("curl", "--config", "-")  # fixed words: nothing from the plan reaches the remote shell


def ssh_curl_transport(ssh_argv: list[str]) -> Transport:
    """Requests to the host's loopback through `ssh ... curl --config -` (sshd's TCP forwarding is off on hardened
    hosts, see templates/base/sshd_config.j2). ssh_argv: the ssh command up to and including the destination."""

    def send(request: Request, base_url: str, token: str | None) -> tuple[int, bytes]:
        try:
            result = subprocess.run([*ssh_argv, "--", shlex.join(CURL_ON_HOST)], input=curl_config(request, base_url, token),
                                    capture_output=True, text=True, timeout=HTTP_TIMEOUT_SECONDS + 30)
        except subprocess.TimeoutExpired:
            raise RevokeError(f"{request.describe()}: no answer through ssh within {HTTP_TIMEOUT_SECONDS + 30} s") from None
        body, _, status = result.stdout.rpartition("\n")
        if result.returncode != 0 or not status.strip().isdigit() or status.strip() == "000":
            detail = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
            raise RevokeError(f"Synapse not reachable through ssh ({request.describe()}): {detail[:200]}")
        return int(status), body.encode("utf-8")

    return send


def target_ssh_argv(target: SshTarget) -> list[str]:
    """ssh to a plan host (as the Keycloak tunnel does, counselkit/keycloak/tunnel.py), for one command."""
    return ["ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", str(target.port), *target.options,
            f"{target.user}@{target.address}"]


@dataclass
class SynapseClient:
    """JSON requests to one Synapse's loopback listener, checked against what each request expects."""

    base_url: str
    transport: Transport = http_transport
    token: str | None = field(default=None, repr=False)

    def call(self, request: Request) -> tuple[int, dict[str, Any]]:
        status, raw = self.transport(request, self.base_url, self.token)
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if status not in request.expect:
            # errcode and error are Synapse's words; the request body (which may hold a secret) is not repeated.
            raise RevokeError(f"Synapse refused {request.describe()}: {status} {payload.get('errcode', '')} "
                              f"{str(payload.get('error', ''))[:200]}".rstrip())
        return status, payload


@contextlib.contextmanager
def temporary_admin(base_url: str, shared_secret: str, transport: Transport = http_transport) -> Iterator[SynapseClient]:
    """A server admin for the duration of the block, registered with the shared secret and deactivated after."""
    anonymous = SynapseClient(base_url, transport)
    _, answer = anonymous.call(NONCE_REQUEST)
    username = TEMP_ADMIN_PREFIX + random_source.token_hex(6)
    password = random_source.token_urlsafe(32)  # never stored: the account is only used through this token
    _, registered = anonymous.call(registration_request(shared_secret, str(answer.get("nonce", "")), username, password))
    admin = SynapseClient(base_url, transport, token=str(registered["access_token"]))
    try:
        yield admin
    finally:
        admin.call(deactivate_request(str(registered["user_id"])))  # also deletes the token


@dataclass
class SynapseOutcome:
    user_id: str
    exists: bool
    locked: bool = False
    devices_deleted: int = 0

    def line(self, enable: bool) -> str:
        if not self.exists:
            return f"Matrix: no account {self.user_id} (never logged in): nothing to {'unlock' if enable else 'lock'}"
        if enable:
            return f"Matrix: {self.user_id} unlocked (deleted devices stay deleted: log in again)"
        return f"Matrix: {self.user_id} locked, {self.devices_deleted} device(s) and their access tokens deleted"


def resolve_user_id(admin: SynapseClient, username: str, server_name: str, keycloak_user_id: str | None) -> str:
    """The Matrix account of a Keycloak account: the one its SSO logins are linked to, else the mapped localpart."""
    if keycloak_user_id:
        status, answer = admin.call(synapse_external_id_request(keycloak_user_id))
        if status == 200 and answer.get("user_id"):
            return str(answer["user_id"])
    return matrix_user_id(username, server_name)


def apply_synapse(admin: SynapseClient, user_id: str, enable: bool) -> SynapseOutcome:
    status, _ = admin.call(synapse_user_request(user_id))
    if status == 404:
        return SynapseOutcome(user_id, exists=False)
    devices: list[str] = []
    if not enable:
        _, listing = admin.call(synapse_devices_request(user_id))
        devices = [str(d["device_id"]) for d in listing.get("devices", []) if d.get("device_id")]
    for request in synapse_requests(user_id, devices, enable):
        admin.call(request)
    return SynapseOutcome(user_id, exists=True, locked=not enable, devices_deleted=len(devices))


def find_keycloak_user(admin: Any, realm: str, username: str) -> dict[str, Any] | None:
    """The realm's account with exactly this username (python-keycloak KeycloakAdmin), or None."""
    admin.change_current_realm(realm)
    try:
        found = admin.get_users({"username": username, "exact": True})
    finally:
        admin.change_current_realm("master")
    return next((u for u in found if u.get("username") == username), None)


def apply_keycloak(admin: Any, realm: str, user_id: str, enable: bool) -> None:
    """Send keycloak_requests() through the logged-in admin connection (python-keycloak's raw calls)."""
    senders = {"PUT": admin.connection.raw_put, "POST": admin.connection.raw_post}
    for request in keycloak_requests(realm, user_id, enable):
        data = "" if request.body is None else json.dumps(request.body)
        answer = senders[request.method](request.path, data=data)
        if answer.status_code not in request.expect:
            raise RevokeError(f"Keycloak refused {request.describe()}: {answer.status_code}")
