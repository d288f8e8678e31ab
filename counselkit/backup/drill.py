"""Restore drill helpers for lab tests and the benchmark: a small Matrix client run on the tenant's host.

The client talks to the tenant's Synapse on its loopback port (no DNS or TLS in the way). It is sent to
the host on SSH's standard input together with its input (registration shared secret, texts), so no secret
is ever on a command line.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

CLIENT = r'''
import hashlib, hmac, json, sys, time, urllib.error, urllib.parse, urllib.request

base = DATA["base"]


def call(method, path, body=None, token=None, raw=None, content_type="application/json", timeout=60):
    # A well-behaved client: Synapse's rate limits (rc_message ...) answer 429 with retry_after_ms; wait and retry.
    for _ in range(30):
        status, answer = _call_once(method, path, body, token, raw, content_type, timeout)
        if status != 429 or not isinstance(answer, dict):
            return status, answer
        time.sleep(min(answer.get("retry_after_ms", 1000), 10000) / 1000)
    return status, answer


def _call_once(method, path, body, token, raw, content_type, timeout):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = resp.read()
            return resp.status, (json.loads(payload) if resp.headers.get_content_type() == "application/json" else payload)
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload)
        except ValueError:
            return exc.code, payload


def wait_up(seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if call("GET", "/_matrix/client/versions", timeout=5)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(1)
    return False


def register(user, password):
    status, body = call("GET", "/_synapse/admin/v1/register")
    nonce = body["nonce"]
    mac = hmac.new(DATA["shared_secret"].encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), user.encode(), password.encode(), b"notadmin"]))
    status, body = call("POST", "/_synapse/admin/v1/register",
                        {"nonce": nonce, "username": user, "password": password, "admin": False, "mac": mac.hexdigest()})
    if status != 200:
        raise SystemExit(f"register {user}: {status} {body}")
    return body


def all_messages(token, room):
    texts, ids, start = [], [], None
    while True:
        query = {"dir": "f", "limit": "500"}
        if start:
            query["from"] = start
        status, body = call("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/messages?" + urllib.parse.urlencode(query), token=token)
        if status != 200:
            return status, None, None
        for event in body.get("chunk", []):
            if event.get("type") == "m.room.message":
                texts.append(event["content"].get("body"))
                ids.append(event["event_id"])
        if not body.get("end") or not body.get("chunk"):
            return 200, texts, ids
        start = body["end"]


action = DATA["action"]
out = {}
if not wait_up(DATA.get("wait", 120)):
    out = {"error": "synapse not answering"}
elif action == "seed":
    account = register(DATA["user"], DATA["password"])
    token = account["access_token"]
    status, room = call("POST", "/_matrix/client/v3/createRoom", {"name": "drill", "preset": "private_chat"}, token=token)
    room_id = room["room_id"]
    t0 = time.time()
    for i, text in enumerate(DATA["texts"]):
        status, body = call("PUT", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/send/m.room.message/t{i}-{int(t0)}",
                            {"msgtype": "m.text", "body": text}, token=token)
        if status != 200:
            raise SystemExit(f"send: {status} {body}")
    media = None
    if DATA.get("media"):
        status, body = call("POST", "/_matrix/media/v3/upload?filename=drill.txt", raw=DATA["media"].encode(),
                            content_type="text/plain", token=token)
        media = body.get("content_uri") if status == 200 else None
    out = {"token": token, "room": room_id, "user_id": account["user_id"], "media": media, "send_seconds": time.time() - t0}
elif action == "send":
    for i, text in enumerate(DATA["texts"]):
        status, body = call("PUT", f"/_matrix/client/v3/rooms/{urllib.parse.quote(DATA['room'])}/send/m.room.message/late{i}-{time.time()}",
                            {"msgtype": "m.text", "body": text}, token=DATA["token"])
        if status != 200:
            raise SystemExit(f"send: {status} {body}")
    out = {"sent": len(DATA["texts"])}
elif action == "read":
    status, texts, ids = all_messages(DATA["token"], DATA["room"])
    out = {"status": status, "texts": texts, "event_ids": ids}
    if DATA.get("media") and status == 200:
        server, media_id = DATA["media"][len("mxc://"):].split("/", 1)
        st, body = call("GET", f"/_matrix/client/v1/media/download/{server}/{media_id}", token=DATA["token"])
        out["media_status"], out["media"] = st, body.decode() if isinstance(body, bytes) else None
print(json.dumps(out))
'''

BOOTSTRAP = ("import sys, json; d = sys.stdin.read(); code, _, data = d.partition('\\n#--DATA--\\n'); "
             "exec(compile(code, 'drill-client', 'exec'), {'DATA': json.loads(data)})")


def matrix(ssh_argv: list[str], data: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run the client on a host. ssh_argv: the ssh command up to and including `--`, e.g. lab ssh.ssh_argv(host)."""
    payload = CLIENT + "\n#--DATA--\n" + json.dumps(data)
    result = subprocess.run([*ssh_argv, f'python3 -c "{BOOTSTRAP}"'], input=payload, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"matrix client on host failed ({result.returncode}): {result.stderr.strip()[-1500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
