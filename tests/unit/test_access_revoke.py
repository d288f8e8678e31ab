"""`counselkit access disable/enable` (issue 13 point 5): the request lists, the username -> Matrix ID mapping, and the
transports (real curl and a real HTTP server on loopback; only ssh is replaced by a local shell)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from counselkit import layout
from counselkit.access import revoke
from counselkit.access.commands import access
from tests.support import EXAMPLE

# --- username -> Matrix user ID (Synapse 1.163: OIDC localpart_template, then map_username_to_mxid_localpart) ---

LOCALPARTS = [
    ("b.jensen", "b.jensen"),
    ("B.Jensen", "b.jensen"),  # ASCII letters lowercased
    ("  m.krueger \t", "m.krueger"),  # the rendered template is stripped
    ("Jürgen", "j=c3=bcrgen"),  # UTF-8 bytes outside the set as =xx (not lowercased: bytes.lower() is ASCII only)
    ("ÄRGER", "=c3=84rger"),
    ("_admin", "=5fadmin"),  # a leading underscore is escaped
    ("a_b", "a_b"),
    ("a=b", "a=3db"),  # '=' is the escape character itself
    ("x y@z:w", "x=20y=40z=3aw"),
    ("a+b/c-d", "a+b/c-d"),
]


@pytest.mark.parametrize(("username", "localpart"), LOCALPARTS)
def test_matrix_localpart_maps_like_synapse(username: str, localpart: str) -> None:
    assert revoke.matrix_localpart(username) == localpart


def test_matrix_user_id_is_on_the_tenant_server() -> None:
    assert revoke.matrix_user_id("B.Jensen", "awo-kiel.beratung.example.org") == "@b.jensen:awo-kiel.beratung.example.org"


# --- request lists -------------------------------------------------------------------------------------------------


def test_keycloak_disable_turns_the_account_off_then_ends_its_sessions() -> None:
    steps = revoke.keycloak_requests("awo-kiel", "4f1c-9a", enable=False)
    assert [(s.method, s.path, s.body, s.expect) for s in steps] == [
        ("PUT", "admin/realms/awo-kiel/users/4f1c-9a", {"enabled": False}, (204,)),
        ("POST", "admin/realms/awo-kiel/users/4f1c-9a/logout", None, (204,)),
    ]


def test_keycloak_enable_turns_the_account_on_only() -> None:
    steps = revoke.keycloak_requests("awo-kiel", "4f1c-9a", enable=True)
    assert [(s.method, s.path, s.body) for s in steps] == [("PUT", "admin/realms/awo-kiel/users/4f1c-9a", {"enabled": True})]


def test_path_segments_are_quoted() -> None:
    steps = revoke.keycloak_requests("a/../b", "../../master", enable=False)
    assert steps[0].path == "admin/realms/a%2F..%2Fb/users/..%2F..%2Fmaster"
    assert revoke.synapse_requests("@x/../y:srv", [], enable=True)[0].path == "/_synapse/admin/v2/users/%40x%2F..%2Fy%3Asrv"


def test_synapse_disable_locks_then_deletes_every_device() -> None:
    steps = revoke.synapse_requests("@b.jensen:srv", ["ZZZ", "AAA"], enable=False)
    assert [(s.method, s.path, s.body) for s in steps] == [
        ("PUT", "/_synapse/admin/v2/users/%40b.jensen%3Asrv", {"locked": True}),
        ("POST", "/_synapse/admin/v2/users/%40b.jensen%3Asrv/delete_devices", {"devices": ["AAA", "ZZZ"]}),
    ]


def test_synapse_disable_without_devices_only_locks_and_enable_only_unlocks() -> None:
    assert [s.body for s in revoke.synapse_requests("@u:srv", [], enable=False)] == [{"locked": True}]
    assert [s.body for s in revoke.synapse_requests("@u:srv", ["D"], enable=True)] == [{"locked": False}]


def test_the_account_is_queried_before_it_is_changed() -> None:
    # PUT /_synapse/admin/v2/users/<id> creates a missing account: a 404 of the GET must be an answer, not an error.
    request = revoke.synapse_user_request("@u:srv")
    assert (request.method, request.expect) == ("GET", (200, 404))


def test_sso_link_lookup_uses_the_provider_of_the_oidc_file() -> None:
    request = revoke.synapse_external_id_request("4f1c/9a")
    assert request.path == f"/_synapse/admin/v1/auth_providers/oidc-{layout.SYNAPSE_OIDC_IDP_ID}/users/4f1c%2F9a"
    from counselkit.keycloak import render
    from counselkit.plan import load_plan

    plan = load_plan(EXAMPLE)
    oidc = yaml.safe_load(render.synapse_oidc(plan, plan.tenants()[0], "client-secret"))
    assert oidc["oidc_providers"][0]["idp_id"] == layout.SYNAPSE_OIDC_IDP_ID


def test_registration_mac_is_synapse_hmac_sha1_of_the_nul_joined_fields() -> None:
    request = revoke.registration_request("s3cret", "n0nce", "counselkit-ops-1", "pw")
    want = hmac.new(b"s3cret", b"n0nce\x00counselkit-ops-1\x00pw\x00admin", hashlib.sha1).hexdigest()
    assert request.body == {"nonce": "n0nce", "username": "counselkit-ops-1", "password": "pw", "admin": True,
                            "mac": want}


# --- transports: a real HTTP server on loopback ---------------------------------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []
    answer: tuple[int, dict[str, Any]] = (200, {"ok": True})

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Recorder.seen.append({"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"),
                              "body": self.rfile.read(length).decode() if length else None})
        status, payload = Recorder.answer
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_PUT = do_POST = _handle

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.seen, Recorder.answer = [], (200, {"ok": True})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# ssh runs its remote command through the login shell; a local shell does the same with the same argv tail.
LOCAL_SHELL_AS_SSH = ["sh", "-c", 'shift; eval "$1"', "sh"]
HOSTILE = 'pa"ss\\word ünï $(id) `id`'


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed on this machine")
def test_ssh_curl_transport_sends_method_path_token_and_body_exactly(server: str) -> None:
    transport = revoke.ssh_curl_transport(LOCAL_SHELL_AS_SSH)
    request = revoke.Request("PUT", "/_synapse/admin/v2/users/%40u%3Asrv", {"password": HOSTILE, "locked": True})
    status, raw = transport(request, server, 'tok"en\\1')
    assert (status, json.loads(raw)) == (200, {"ok": True})
    assert Recorder.seen == [{"method": "PUT", "path": "/_synapse/admin/v2/users/%40u%3Asrv", "auth": 'Bearer tok"en\\1',
                              "body": json.dumps({"password": HOSTILE, "locked": True})}]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed on this machine")
def test_ssh_curl_transport_reports_status_of_refusals_and_empty_bodies(server: str) -> None:
    Recorder.answer = (404, {"errcode": "M_NOT_FOUND"})
    transport = revoke.ssh_curl_transport(LOCAL_SHELL_AS_SSH)
    status, raw = transport(revoke.Request("GET", "/x"), server, None)
    assert (status, json.loads(raw)) == (404, {"errcode": "M_NOT_FOUND"})
    assert Recorder.seen[0]["auth"] is None and Recorder.seen[0]["body"] is None


def test_secrets_travel_on_stdin_never_in_argv() -> None:
    body = {"password": "hunter2-secret", "mac": "m4c"}
    config = revoke.curl_config(revoke.Request("POST", "/p", body), "http://127.0.0.1:8101", "tok-secret")
    assert "tok-secret" in config and "hunter2-secret" in config
    argv = [*revoke.target_ssh_argv(revoke.SshTarget("203.0.113.5")), "--", *revoke.CURL_ON_HOST]
    assert not any(s in " ".join(argv) for s in ("tok-secret", "hunter2-secret", "m4c"))


def test_curl_config_refuses_line_breaks() -> None:
    with pytest.raises(revoke.RevokeError):
        revoke.curl_config(revoke.Request("GET", "/p\nurl = http://evil"), "http://127.0.0.1:1", None)


def test_refusal_message_names_the_request_not_its_secret_body(server: str) -> None:
    Recorder.answer = (403, {"errcode": "M_FORBIDDEN", "error": "HMAC incorrect"})
    client = revoke.SynapseClient(server)
    with pytest.raises(revoke.RevokeError) as caught:
        client.call(revoke.registration_request("shared-secret-value", "n", "u", "password-value"))
    message = str(caught.value)
    assert "POST /_synapse/admin/v1/register" in message and "M_FORBIDDEN" in message
    assert "password-value" not in message and "shared-secret-value" not in message


def test_disable_of_a_missing_account_changes_nothing(server: str) -> None:
    Recorder.answer = (404, {"errcode": "M_NOT_FOUND"})
    outcome = revoke.apply_synapse(revoke.SynapseClient(server, token="t"), "@gone:srv", enable=False)
    assert not outcome.exists and [r["method"] for r in Recorder.seen] == ["GET"]  # no PUT that would create it


def test_cli_unknown_tenant_is_a_clear_error(tmp_path: Any) -> None:
    result = CliRunner().invoke(access, ["disable", "--tenants", str(EXAMPLE), "no-such-tenant", "b.jensen"])
    assert result.exit_code == 2 and "no tenant no-such-tenant" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
