"""`counselkit counsellor add`: argument errors, and what it sends to Synapse (a real HTTP server on loopback)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner

from counselkit.access import counsellors
from counselkit.access.counsellors import CounsellorError, add_counsellor, check_password, check_username, counsellor
from counselkit.plan import load_plan
from tests.support import EXAMPLE

TENANT = "awo-kiel"
PASSWORD = 'Pa"ss\\wört $(id) `id` 1!'


def invoke(*args: str, stdin: str = PASSWORD + "\n") -> Any:
    return CliRunner().invoke(counsellor, ["add", "--tenants", str(EXAMPLE), *args], input=stdin)


@pytest.mark.parametrize("username", ["", "B.Jensen", "b jensen", "jürgen", "a:b", "_svc", "counselkit",
                                      "counselkit-ops-1234", "x\ny"])
def test_bad_usernames_are_refused_before_anything_is_read(username: str) -> None:
    result = invoke(TENANT, username)
    assert result.exit_code == 2 and "error: USERNAME" in result.output, result.output
    assert PASSWORD not in result.output


def test_unknown_tenant_is_a_usage_error() -> None:
    result = invoke("no-such-tenant", "b.jensen")
    assert result.exit_code == 2 and "no tenant no-such-tenant" in result.output


@pytest.mark.parametrize(("stdin", "message"), [("", "shorter than 12"), ("short1!\n", "shorter than 12"),
                                                ("long enough\x00password\n", "NUL")])
def test_bad_passwords_on_stdin_are_refused(stdin: str, message: str) -> None:
    result = invoke(TENANT, "b.jensen", stdin=stdin)
    assert result.exit_code == 2 and message in result.output, result.output


def test_there_is_no_way_to_give_the_password_in_argv() -> None:
    params = {p.name for p in counsellors.add.params}
    assert not any("pass" in name for name in params), params


def test_the_checks_accept_synapse_localparts_and_long_passwords() -> None:
    assert check_username("b.jensen-2/x+y=z_") == "b.jensen-2/x+y=z_"
    assert check_password(PASSWORD) == PASSWORD
    with pytest.raises(CounsellorError):
        check_username("a" * 3 + "A")


# --- against a fake Synapse ------------------------------------------------------------------------------------


class FakeSynapse(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []
    register_answer: tuple[int, dict[str, Any]] = (200, {"user_id": "@b.jensen:awo-kiel.beratung.example.org",
                                                         "access_token": "tok", "device_id": "D"})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        FakeSynapse.seen.append({"method": "GET", "path": self.path})
        self._answer(200, {"nonce": "n0nce"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeSynapse.seen.append({"method": "POST", "path": self.path, "body": body})
        self._answer(*FakeSynapse.register_answer)

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeSynapse.seen.append({"method": "PUT", "path": self.path, "body": body,
                                 "token": self.headers.get("Authorization")})
        self._answer(200, {})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def synapse() -> Iterator[str]:
    FakeSynapse.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeSynapse)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@contextmanager
def registration_answers(status: int, payload: dict[str, Any]) -> Iterator[None]:
    """The fake Synapse answers registrations so inside the block; its usual answer comes back afterwards."""
    saved = FakeSynapse.register_answer
    FakeSynapse.register_answer = (status, payload)
    try:
        yield
    finally:
        FakeSynapse.register_answer = saved


class Store:
    def get(self, ref: str) -> str:
        assert ref.endswith("registration_shared_secret"), ref
        return "shared-secret"


def test_registers_a_non_admin_with_the_shared_secret_mac(synapse: str) -> None:
    user_id = add_counsellor(load_plan(EXAMPLE), Store(), TENANT, "b.jensen", PASSWORD, synapse_url=synapse)
    assert user_id == "@b.jensen:awo-kiel.beratung.example.org"
    nonce, register = FakeSynapse.seen
    assert (nonce["method"], nonce["path"]) == ("GET", "/_synapse/admin/v1/register")
    want = hmac.new(b"shared-secret", f"n0nce\x00b.jensen\x00{PASSWORD}\x00notadmin".encode(), hashlib.sha1).hexdigest()
    assert register["body"] == {"nonce": "n0nce", "username": "b.jensen", "password": PASSWORD, "admin": False,
                                "mac": want}


def test_an_existing_account_is_a_clear_refusal(synapse: str) -> None:
    with registration_answers(400, {"errcode": "M_USER_IN_USE", "error": "User ID already taken."}):
        with pytest.raises(CounsellorError, match="exists already"):
            add_counsellor(load_plan(EXAMPLE), Store(), TENANT, "b.jensen", PASSWORD, synapse_url=synapse)


def test_unreachable_synapse_is_an_error_without_the_password() -> None:
    with pytest.raises(CounsellorError) as refused:
        add_counsellor(load_plan(EXAMPLE), Store(), TENANT, "b.jensen", PASSWORD, synapse_url="http://127.0.0.1:9")
    assert "not reachable" in str(refused.value) and PASSWORD not in str(refused.value)


@pytest.mark.parametrize("email", ["not-an-address", "a@b\nBcc: x@evil.example", "<b@awo.example>", ""])
def test_bad_email_is_refused_before_anything_is_read(email: str) -> None:
    result = invoke(TENANT, "b.jensen", "--email", email)
    assert result.exit_code == 2 and "error: --email" in result.output, result.output


def test_email_becomes_the_accounts_only_threepid_through_a_temporary_admin(synapse: str) -> None:
    user_id = add_counsellor(load_plan(EXAMPLE), Store(), TENANT, "b.jensen", PASSWORD, synapse_url=synapse,
                             email="b.jensen@awo-kiel.example")
    puts = [r for r in FakeSynapse.seen if r["method"] == "PUT"]
    assert len(puts) == 1, FakeSynapse.seen
    assert puts[0]["path"] == "/_synapse/admin/v2/users/%40b.jensen%3Aawo-kiel.beratung.example.org"
    assert puts[0]["body"] == {"threepids": [{"medium": "email", "address": "b.jensen@awo-kiel.example"}]}
    assert puts[0]["token"] == "Bearer tok"  # the temporary admin's token, not the counsellor's password
    temporary = [r for r in FakeSynapse.seen if r["method"] == "POST" and r["path"] == "/_synapse/admin/v1/register"][1]
    assert temporary["body"]["admin"] is True and temporary["body"]["username"].startswith("counselkit-ops-")
    assert FakeSynapse.seen[-1]["path"].startswith("/_synapse/admin/v1/deactivate/"), FakeSynapse.seen[-1]
    assert user_id == "@b.jensen:awo-kiel.beratung.example.org"


def test_without_email_no_admin_is_made(synapse: str) -> None:
    add_counsellor(load_plan(EXAMPLE), Store(), TENANT, "b.jensen", PASSWORD, synapse_url=synapse)
    assert [r["method"] for r in FakeSynapse.seen] == ["GET", "POST"]


def test_a_refusal_for_lack_of_seats_says_so(synapse: str) -> None:
    with registration_answers(429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Rate limited"}):
        with pytest.raises(CounsellorError, match="all 12 licensed counsellor seats of awo-kiel are taken"):
            add_counsellor(load_plan(EXAMPLE), Store(), TENANT, "b.jensen", PASSWORD, synapse_url=synapse)
