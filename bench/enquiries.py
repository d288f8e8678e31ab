"""100 help-seekers register and send an encrypted first message to one tenant at once (issue 15 point 9).

    COUNSELKIT_VAULT_PASSWORD_FILE=... .venv/bin/python bench/enquiries.py --file SITE/tenants.yaml [--tenant SLUG]
        [--count 100] [--keep]

The tenants file is a deployed lab site's (the example deployed onto a lab host, as tests/lab/conftest.py
example_site does); its secrets store gives the internal CA. Each help-seeker:
  1. POST /_counselkit/v1/register — on the lab host, through nginx, each from its own loopback source address
     (127.0.0.2, 127.0.0.3, ...): registration is rate-limited per client address (nginx hands the module
     X-Forwarded-For = $remote_addr), and 100 people at once come from 100 addresses, not from the control side's one;
  2. then from the control side, through nginx at https://<slug>.<domain>: POST /_counselkit/v1/enquiries, join the
     room, upload its device keys and send the first message encrypted with Megolm (matrix-nio with vodozemac, as
     tests/matrix_client.py). The bench measures load, not trust: it encrypts for the counsellors' devices without
     verifying them (the lab tests check verification).
Latency per help-seeker: registration (measured on the host) plus enquiry-to-message-sent (measured here). Synapse's
RSS and PSS (the counselling service is a module inside it: its memory is Synapse's) before and after, as
bench/tenant_memory.py measures them. Afterwards each help-seeker deletes its account (DELETE
/_counselkit/v1/account) unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tenant_memory import measure, total  # noqa: E402

API = "/_counselkit/v1"
CLAIM_ATTEMPTS = 5
# The message was sent, but some counsellor device got no room key: its one-time keys ran out (nobody topped them
# up: its client was offline) and it has no fallback key — matrix-nio 0.26 uploads none; current apps do (MSC2732).
KEY_MISSING = "sent, but room key not shared (device without one-time keys)"
retries = [0]  # /keys/claim repeated because an answer held no key (printed)

# Runs on the lab host (Debian's python3, stdlib only). stdin: JSON {domain, count, ca}; stdout: JSON list of
# {status, seconds, answer}. Every thread waits at a barrier, then registers from its own loopback address.
REMOTE = r'''
import http.client, json, secrets, socket, ssl, sys, threading, time
job = json.load(sys.stdin)
context = ssl.create_default_context(cadata=job["ca"])
barrier = threading.Barrier(job["count"])
results = [None] * job["count"]

def one(i):
    source = f"127.0.{(i + 2) // 256}.{(i + 2) % 256}"
    body = json.dumps({"username": f"bench{secrets.token_hex(6)}", "password": "Bench-" + secrets.token_urlsafe(12) + "1!",
                       "email": None, "postcode": None, "consent_version": "bench"}).encode()
    barrier.wait()
    start = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", 443), timeout=120, source_address=(source, 0))
        conn = http.client.HTTPSConnection(job["domain"], 443, context=context, timeout=120)
        conn.sock = context.wrap_socket(sock, server_hostname=job["domain"])
        conn.request("POST", "/_counselkit/v1/register", body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        raw = answer.read()
        status = answer.status
    except OSError as exc:
        status, raw = 0, json.dumps({"error": type(exc).__name__}).encode()
    seconds = time.monotonic() - start
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = {"raw": raw[:200].decode("utf-8", "replace")}
    results[i] = {"status": status, "seconds": seconds, "answer": payload}

threads = [threading.Thread(target=one, args=(i,)) for i in range(job["count"])]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results))
'''


def register_on_host(host: Any, domain: str, ca: str, count: int) -> list[dict[str, Any]]:
    """The registrations, all at once, on the host (credentials come back on stdout, never through an argv)."""
    from counselkit.lab import ssh

    argv = ssh.ssh_argv(host, [shlex.join(["python3", "-c", REMOTE])])
    done = subprocess.run(argv, input=json.dumps({"domain": domain, "count": count, "ca": ca}), capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode:
        raise SystemExit(f"{host.name}: registering failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


async def first_message(site: Any, homeserver: str, domain: str, credentials: dict[str, str],
                        text: str) -> tuple[str | None, float]:
    """Enquiry, join, encrypted first message; (error or None, seconds)."""
    import aiohttp
    from nio import AsyncClient, AsyncClientConfig, JoinError, RoomSendError
    from nio.store import SqliteMemoryStore

    from tests.matrix_client import _LabResolver

    start = time.monotonic()
    config = AsyncClientConfig(store=SqliteMemoryStore, encryption_enabled=True, store_sync_tokens=False,
                               request_timeout=300)
    client = AsyncClient(homeserver, config=config, ssl=site.tls())
    client.client_session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=_LabResolver(site.names), ssl=site.tls()),
        timeout=aiohttp.ClientTimeout(total=300))
    try:
        client.restore_login(credentials["user_id"], credentials["device_id"], credentials["access_token"])
        await client.keys_upload()
        headers = {"Authorization": f"Bearer {credentials['access_token']}", "Content-Type": "application/json"}
        async with client.client_session.post(f"{homeserver}{API}/enquiries", data=json.dumps({"topic": None}),
                                              headers=headers) as answer:
            body = await answer.json(content_type=None)
            if answer.status != 201:
                return f"enquiry {answer.status} {body.get('errcode') if isinstance(body, dict) else ''}", 0.0
        room = body["room_id"]
        joined = await client.join(room)
        if isinstance(joined, JoinError):
            return f"join {joined.status_code}", 0.0
        await client.sync(timeout=0, full_state=True)
        if client.should_query_keys:
            await client.keys_query()
        # Olm sessions with every counsellor device first. Under concurrency Synapse answers some /keys/claim with
        # no key for a device (seen on the lab: 200 with empty one_time_keys); a client then asks again.
        for attempt in range(CLAIM_ATTEMPTS):
            missing = client.get_missing_sessions(room)
            if not missing:
                break
            retries[0] += attempt > 0
            await client.keys_claim(missing)
        sent = await client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": text},
                                      ignore_unverified_devices=True)
        if isinstance(sent, RoomSendError):
            return f"send {sent.status_code}", 0.0
        seconds = time.monotonic() - start
        # Did every other device in the room get the Megolm key (an Olm session per device)? If not, a counsellor
        # could not read the message: counted as a failure.
        wanted = {(u, d.id) for u in client.rooms[room].users if u != client.user_id
                  for d in client.device_store.active_user_devices(u)}
        session = client.olm.outbound_group_sessions.get(room)
        missing = wanted - (session.users_shared_with if session else set())
        if missing:
            return f"{KEY_MISSING}: {len(missing)} of {len(wanted)} device(s)", seconds
        return None, seconds
    except (aiohttp.ClientError, asyncio.TimeoutError, KeyError) as exc:
        return f"{type(exc).__name__}", 0.0
    finally:
        await client.close()


async def delete_accounts(site: Any, homeserver: str, tokens: list[str]) -> int:
    import aiohttp

    from tests.matrix_client import _LabResolver

    deleted = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_LabResolver(site.names), ssl=site.tls(),
                                                                   limit=10)) as session:
        for token in tokens:
            async with session.delete(f"{homeserver}{API}/account",
                                      headers={"Authorization": f"Bearer {token}"}) as answer:
                deleted += answer.status == 200
    return deleted


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def memory(host: Any, tenant: Any) -> tuple[float, float]:
    figures = measure(host, [{"slug": tenant.slug, "unit": tenant.unit, "db_user": tenant.db_user}])
    synapse = figures["tenants"][tenant.slug]["synapse"]
    return total(synapse, "Rss"), total(synapse, "Pss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", required=True, help="the deployed lab site's tenants.yaml")
    parser.add_argument("--tenant", help="slug (default: the first tenant)")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the help-seekers' accounts afterwards")
    args = parser.parse_args()
    if not 1 <= args.count <= 60000:
        parser.error("--count must be between 1 and 60000 (one loopback source address each)")

    from counselkit.ca import split_pem
    from counselkit.lab import load_state
    from counselkit.plan import load_plan
    from counselkit.secrets import SecretStore
    from tests.matrix_client import Site

    plan = load_plan(Path(args.file))
    tenant = plan.tenant(args.tenant) if args.tenant else plan.tenants()[0]
    lab = load_state()
    if lab is None:
        raise SystemExit("the lab is not up")
    host = next((h for h in lab.hosts if h.address == plan.host(tenant.host).address), None)
    if host is None:
        raise SystemExit(f"{tenant.host} ({plan.host(tenant.host).address}) is no lab host")
    ca = split_pem(SecretStore.open(Path(args.file)).get(plan.platform_secrets["internal_ca"]))[1].decode()
    site = Site({t.domain: plan.host(t.host).address for t in plan.tenants()}, Path(args.file).parent / ".bench-ca.pem")
    site.ca_file.write_text(ca)
    homeserver = f"https://{tenant.domain}"

    rss_before, pss_before = memory(host, tenant)
    started = time.monotonic()
    registered = register_on_host(host, tenant.domain, ca, args.count)
    ok = [r for r in registered if r["status"] == 201]

    async def messages() -> list[tuple[str | None, float]]:
        return await asyncio.gather(*(first_message(site, homeserver, tenant.domain, r["answer"], f"bench {i}")
                                      for i, r in enumerate(ok)))

    sent = asyncio.run(messages())
    wall = time.monotonic() - started
    rss_after, pss_after = memory(host, tenant)

    sent_ok = [(r, s) for r, (error, s) in zip(ok, sent) if error is None or error.startswith(KEY_MISSING)]
    totals = [r["seconds"] + s for r, s in sent_ok]
    keyed = sum(1 for error, _ in sent if error is None)
    errors: dict[str, int] = {}
    for r in registered:
        if r["status"] != 201:
            key = f"register {r['status']} {r['answer'].get('errcode', '')}".strip()
            errors[key] = errors.get(key, 0) + 1
    for error, _ in sent:
        if error:
            errors[error] = errors.get(error, 0) + 1
    reg = [r["seconds"] for r in ok]
    msg = [s for _, s in sent_ok]
    print(f"enquiries bench: {args.count} help-seekers at once against {tenant.slug} on {host.name} ({wall:.1f} s wall)")
    print(f"  success (registered, enquiry opened, first message sent encrypted): {len(totals)} of {args.count}")
    print(f"  of those, the room key reached every counsellor device: {keyed}")
    for name, values in (("register", reg), ("enquiry+join+send", msg), ("total", totals)):
        print(f"  {name:<18} p50 {percentile(values, 0.5):6.2f} s   p95 {percentile(values, 0.95):6.2f} s")
    print(f"  /keys/claim asked again (an answer held no one-time key): {retries[0]} time(s)")
    for error, count in sorted(errors.items()):
        print(f"  not complete: {count} x {error}")
    print(f"  Synapse (with the counselling module) RSS {rss_before:.1f} -> {rss_after:.1f} MiB, "
          f"PSS {pss_before:.1f} -> {pss_after:.1f} MiB")
    if not args.keep and ok:
        deleted = asyncio.run(delete_accounts(site, homeserver, [r["answer"]["access_token"] for r in ok]))
        print(f"  afterwards: {deleted} of {len(ok)} help-seeker accounts deleted (DELETE {API}/account)")


if __name__ == "__main__":
    main()
