"""Run ON a lab host as root (stdlib only): the retention purge of the counselling module with a moved clock.

A help-seeker registers, opens an enquiry and sends an (encrypted-looking) event; the probe moves every trace of
their activity back by more than the longest retention period in the tenant's database, restarts the tenant's
Synapse (the module purges once a minute after start, docs/counselling.md#retention-purge) and waits until the
help-seeker's enquiry rows are gone. Prints one JSON object of observations of the database before and after;
tests/lab/test_site_counselling_purge_lab.py asserts on them.

argv: tenant config dir, Synapse port, server name, database ("sqlite:<file>" for a local Synapse, else the
PostgreSQL database name, read as the postgres superuser), systemd unit to restart ("-" when the caller restarts).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote

CONFIG_DIR, PORT, SERVER, DATABASE, UNIT = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
BACK_MS = 3651 * 24 * 60 * 60 * 1000  # longer than the longest retention_days tenants.yaml allows
MARKER = "PURGE-PROBE-" + secrets.token_hex(6)


def call(method: str, path: str, body: object = None, token: str | None = None,
         address: str = "192.0.2.2") -> tuple[int, dict]:
    """(status, JSON answer) of one request to the tenant's Synapse on loopback; 0 while it is not listening."""
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "X-Forwarded-For": address,
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}
    except OSError:
        return 0, {}


def sql(statement: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """One statement; placeholders are `?`. PostgreSQL through psql gets the values inlined as quoted literals
    (they are made here: user and room IDs of this run)."""
    if DATABASE.startswith("sqlite:"):
        conn = sqlite3.connect(DATABASE[len("sqlite:"):], timeout=30)
        try:
            rows = conn.execute(statement, args).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()
    for arg in args:
        literal = str(arg) if isinstance(arg, int) else "'" + str(arg).replace("'", "''") + "'"
        statement = statement.replace("?", literal, 1)
    out = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-t", "-A", "-F", "\t",
                          "-v", "ON_ERROR_STOP=1", "-d", DATABASE, "-c", statement],
                         capture_output=True, text=True, check=True, cwd="/").stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def count(table: str, column: str, value: str) -> int:
    return int(sql(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (value,))[0][0])


def traces(user: str, room: str) -> dict[str, object]:
    return {
        "events": count("events", "room_id", room),
        "event_json": count("event_json", "room_id", room),
        "rooms": count("rooms", "room_id", room),
        "memberships": count("room_memberships", "room_id", room),
        "current_state": count("current_state_events", "room_id", room),
        "marker": int(sql("SELECT COUNT(*) FROM event_json WHERE json LIKE ?", (f"%{MARKER}%",))[0][0]),
        "enquiries": count("counselkit_enquiries", "help_seeker", user),
        "activity": count("counselkit_activity", "user_id", user),
        # psql prints NULL as an empty string (never a postcode or address: the API refuses those)
        "help_seeker": [[v if v != "" else None for v in r] for r in sql(
            "SELECT postcode, email, consent_version FROM counselkit_help_seekers WHERE user_id = ?", (user,))],
        "deactivated": [int(r[0]) for r in sql("SELECT deactivated FROM users WHERE name = ?", (user,))],
        "erased": count("erased_users", "user_id", user),
    }


def main() -> None:
    address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    name = f"purge-{secrets.token_hex(4)}"
    status, reg = call("POST", "/_counselkit/v1/register", {
        "username": name, "password": "Geheim-" + secrets.token_hex(4) + "Aa1!", "email": "probe@example.org",
        "postcode": "24103", "consent_version": "2026-12"}, address=address)
    assert status == 201, (status, reg)
    user, token = reg["user_id"], reg["access_token"]
    status, enquiry = call("POST", "/_counselkit/v1/enquiries", {}, token)
    assert status == 201, (status, enquiry)
    room = enquiry["room_id"]
    joined, _ = call("POST", f"/_matrix/client/v3/join/{quote(room, safe='')}", {}, token)
    sent, _ = call("PUT", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/send/m.room.encrypted/{MARKER}", {
        "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": MARKER, "sender_key": "k", "session_id": "s",
        "device_id": reg["device_id"]}, token)
    time.sleep(12)  # Synapse writes user_ips in batches every few seconds: let the last one land first
    before = traces(user, room)
    # The moved clock: every record of this help-seeker's activity goes back ten years.
    sql("UPDATE counselkit_activity SET last_active_at = last_active_at - ? WHERE user_id = ?", (BACK_MS, user))
    sql("UPDATE counselkit_help_seekers SET created_at = created_at - ? WHERE user_id = ?", (BACK_MS, user))
    sql("UPDATE user_ips SET last_seen = last_seen - ? WHERE user_id = ?", (BACK_MS, user))
    if UNIT != "-":
        subprocess.run(["systemctl", "restart", UNIT], check=True)
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and count("counselkit_enquiries", "help_seeker", user):
        time.sleep(5)
    for _ in range(60):  # Synapse answers again after the restart
        if call("GET", "/_counselkit/v1/centre")[0] == 200:
            break
        time.sleep(2)
    after = traces(user, room)
    token_after = call("GET", "/_matrix/client/v3/account/whoami", token=token)[0]
    print(json.dumps({"user": user, "room": room, "joined": joined, "sent": sent, "before": before,
                      "after": after, "token_after": token_after}))


if __name__ == "__main__":
    main()
