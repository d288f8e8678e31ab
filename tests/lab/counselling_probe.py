"""Run ON a lab host as root (stdlib only): the counselling module of one tenant, exercised over plain HTTP against
the tenant's Synapse on loopback. Prints one JSON object of observations; tests/lab/test_site_counselling_module_lab.py
asserts on them. argv: tenant config dir, Synapse port, server name. Passwords are made here, never in any argv.

The counsellors are made with Synapse's shared-secret admin registration (as `counselkit counsellor add` does);
every client address is a different X-Forwarded-For value, so that the registration rate limit meets only the
requests meant for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
import threading
import urllib.error
import urllib.request
from urllib.parse import quote

CONFIG_DIR, PORT, SERVER = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BASE = f"http://127.0.0.1:{PORT}"
TAG = secrets.token_hex(3)
# Client addresses of this run only: the module's rate limit remembers addresses of earlier runs.
NET = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


def call(method: str, path: str, body: object = None, token: str | None = None,
         address: str = "192.0.2.1") -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Forwarded-For", address)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"{}")
        except ValueError:
            return error.code, {"raw": raw[:200].decode("utf-8", "replace")}


def shared_secret() -> str:
    for line in open(f"{CONFIG_DIR}/homeserver.yaml", encoding="utf-8"):
        if line.startswith("registration_shared_secret:"):
            return json.loads(line.split(":", 1)[1].strip())
    raise SystemExit("no registration_shared_secret")


def counsellor(name: str) -> tuple[str, str]:
    password = secrets.token_urlsafe(18) + "aA1!"
    _, nonce = call("GET", "/_synapse/admin/v1/register")
    mac = hmac.new(shared_secret().encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce["nonce"].encode(), name.encode(), password.encode(), b"notadmin"]))
    status, answer = call("POST", "/_synapse/admin/v1/register", {
        "nonce": nonce["nonce"], "username": name, "password": password, "admin": False, "mac": mac.hexdigest()})
    assert status == 200, (status, answer)
    return answer["user_id"], answer["access_token"]


def register(name: str, address: str, **changes: object) -> tuple[int, dict]:
    body = {"username": name, "password": "Geheim-" + secrets.token_hex(4) + "Aa1!", "email": None,
            "postcode": "24103", "consent_version": "2026-12", **changes}
    return call("POST", "/_counselkit/v1/register", body, address=address)


def room_path(room_id: str, tail: str) -> str:
    return f"/_counselkit/v1/enquiries/{quote(room_id, safe='')}/{tail}"


def state(room_id: str, token: str, kind: str, key: str = "") -> tuple[int, dict]:
    return call("GET", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/{kind}/{key}", token=token)


def send(room_id: str, token: str) -> int:
    txn = secrets.token_hex(8)
    body = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn" + txn, "sender_key": "x", "device_id": "X",
            "session_id": "y"}
    return call("PUT", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/m.room.encrypted/{txn}", body,
                token=token)[0]


def members(room_id: str, token: str) -> dict[str, str]:
    _, answer = call("GET", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/members", token=token)
    return {e["state_key"]: e["content"]["membership"] for e in answer.get("chunk", [])}


def main() -> None:
    out: dict[str, object] = {}
    c1, t1 = counsellor(f"berater-a-{TAG}")
    c2, t2 = counsellor(f"berater-b-{TAG}")
    out["counsellors_made"] = [c1, c2]
    out["centre"] = call("GET", "/_counselkit/v1/centre")
    status, spec = call("GET", "/_counselkit/v1/openapi.json")
    out["openapi"] = [status, spec.get("openapi"), sorted(spec.get("paths", {}))]
    out["synapse_register"] = call("POST", "/_matrix/client/v3/register", {"username": f"direct{TAG}",
                                                                           "password": "Aa1!aaaaaaaaaa"})[0]
    out["bad_password"] = register(f"hilfe-x-{TAG}", f"{NET}.1", password="short")
    out["bad_username"] = register("ab", f"{NET}.2")
    out["not_json"] = call("POST", "/_counselkit/v1/register", None, address=f"{NET}.3")
    status, hs = register(f"hilfe-{TAG}", f"{NET}.4")
    out["register"] = [status, hs.get("user_id"), bool(hs.get("access_token")), bool(hs.get("device_id"))]
    token = hs["access_token"]
    out["taken"] = register(f"hilfe-{TAG}", f"{NET}.5")
    out["service_name_taken"] = register("counselkit", f"{NET}.6")
    out["rate_limit"] = [register(f"flood{n}-{TAG}", f"{NET}.7", password="short")[1]["errcode"]
                         for n in range(7)]
    out["whoami"] = call("GET", "/_matrix/client/v3/account/whoami", token=token)[1].get("user_id")

    # policy denials
    out["hs_create_room"] = call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, token=token)
    status, other = call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, token=t1)
    out["counsellor_create_room"] = status
    other_room = other["room_id"]
    out["counsellor_invites_hs"] = call("POST", f"/_matrix/client/v3/rooms/{quote(other_room, safe='')}/invite",
                                        {"user_id": hs["user_id"]}, token=t1)
    out["hs_joins_foreign_room"] = call("POST", f"/_matrix/client/v3/join/{quote(other_room, safe='')}", {},
                                        token=token)[0]
    out["no_auth_enquiry"] = call("POST", "/_counselkit/v1/enquiries", {})
    out["counsellor_opens_enquiry"] = call("POST", "/_counselkit/v1/enquiries", {}, token=t1)[1].get("errcode")

    # the enquiry
    status, enquiry = call("POST", "/_counselkit/v1/enquiries", {"topic": None}, token=token)
    out["enquiry"] = [status, enquiry]
    room = enquiry["room_id"]
    out["enquiry_counsellor_count"] = len(enquiry["counsellors"])
    # more enquiries right after: the service's invites are not rate-limited like a person's
    extra = []
    for n in range(3):
        _, other_hs = register(f"hilfe{n}-{TAG}", f"{NET}.{20 + n}")
        extra.append(other_hs["access_token"])
        out[f"extra_enquiry_{n}"] = call("POST", "/_counselkit/v1/enquiries", {}, token=other_hs["access_token"])[0]
    for other_token in extra:  # leaves no open enquiry behind: deletion closes it
        call("DELETE", "/_counselkit/v1/account", token=other_token)
    out["second_enquiry"] = call("POST", "/_counselkit/v1/enquiries", {}, token=token)[1].get("errcode")
    out["hs_join"] = call("POST", f"/_matrix/client/v3/join/{quote(room, safe='')}", {}, token=token)[0]
    out["hs_send"] = send(room, token)
    out["hs_invites"] = call("POST", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/invite", {"user_id": c1},
                             token=token)[0]
    out["hs_sets_name"] = call("PUT", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/state/m.room.name/",
                               {"name": "x"}, token=token)[0]
    for kind in ("m.room.encryption", "m.room.join_rules", "m.room.history_visibility", "m.room.power_levels",
                 "m.room.create"):
        out[kind] = state(room, token, kind)[1]
    out["members_before"] = members(room, token)
    out["queue_c1"] = call("GET", "/_counselkit/v1/enquiries", token=t1)[1]

    # accept under concurrency: both at once
    results: dict[str, tuple[int, dict]] = {}
    barrier = threading.Barrier(2)

    def accept(name: str, tok: str) -> None:
        barrier.wait()
        results[name] = call("POST", room_path(room, "accept"), {}, token=tok)

    threads = [threading.Thread(target=accept, args=(c, t)) for c, t in ((c1, t1), (c2, t2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out["accept"] = {name: [s, b.get("counsellor") or b.get("errcode")] for name, (s, b) in results.items()}
    winner = next((name for name, (s, _) in results.items() if s == 200), None)
    if winner is None:  # nothing more to observe; the test names what the accepts answered
        print(json.dumps(out))
        return
    loser = c2 if winner == c1 else c1
    tokens = {c1: t1, c2: t2}
    out["members_after_accept"] = members(room, token)
    out["hs_view"] = call("GET", "/_counselkit/v1/enquiries", token=token)[1]
    out["loser_close"] = call("POST", room_path(room, "close"), {}, token=tokens[loser])[1].get("errcode")
    # a colleague whose account is younger than the room: no counsellor level there yet
    c3, t3 = counsellor(f"berater-c-{TAG}")
    out["colleague"] = c3
    out["handover_to_help_seeker"] = call("POST", room_path(room, "handover"), {"to": hs["user_id"]},
                                          token=tokens[winner])[1].get("field")
    out["handover"] = call("POST", room_path(room, "handover"), {"to": c3}, token=tokens[winner])
    out["members_after_handover"] = members(room, token)
    out["power_after_handover"] = state(room, token, "m.room.power_levels")[1].get("users", {}).get(c3)
    out["close"] = call("POST", room_path(room, "close"), {}, token=t3)
    out["hs_send_after_close"] = send(room, token)
    # a server-side key backup as the web app makes one (content opaque to the server): the deletion must erase it
    backup = {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "a" * 43}}
    status, made = call("POST", "/_matrix/client/v3/room_keys/version", backup, token=token)
    session = {"first_message_index": 0, "forwarded_count": 0, "is_verified": False,
               "session_data": {"ephemeral": "e", "ciphertext": "c", "mac": "m"}}
    keys = {"rooms": {room: {"sessions": {f"s-{TAG}": session}}}}
    out["backup_made"] = [status, call("PUT", f"/_matrix/client/v3/room_keys/keys?version={made.get('version')}",
                                       keys, token=token)[0]]
    out["delete"] = call("DELETE", "/_counselkit/v1/account", token=token)[0]
    out["token_after_delete"] = call("GET", "/_matrix/client/v3/account/whoami", token=token)[0]
    print(json.dumps(out))


main()
