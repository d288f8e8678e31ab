"""A test-side Matrix client with real end-to-end encryption (matrix-nio with its e2e extra: vodozemac), usable from
synchronous tests.

Each `E2EEClient` owns an event loop and an in-memory crypto store: a fresh device per client, its identity and
one-time keys uploaded at login, Megolm sessions shared with the room members' devices when it sends, room keys
received as Olm-encrypted to-device messages when it syncs. Nothing is decrypted by the server: what the tests
read back has gone through the Megolm/Olm code of the library.

Trust of devices is explicit. A client refuses to encrypt for any device it has not verified
(`ignore_unverified_devices=False` in room_send), so the test has to say whom it trusts: `trust(peer)` takes the
peer's device id and Ed25519 fingerprint from the peer client object itself — the out-of-band channel a person
would use when comparing keys — and verifies the device the homeserver published for that user only if the
server's key (from /keys/query, signed by the device) is that same key. A device the server invented, or a key it
swapped, stays unverified and gets no room key. The counselling service user has no device, so it is never
trusted and never receives a key (docs/counselling.md: it reads nothing).

Reaching the site: the tenant's public name, https://<slug>.<domain>, through nginx on the lab host — as the
deploy suite does (tests/lab/test_deploy.py resolve_lab / ca_file): the name is resolved to the lab host's address
inside this process only and the certificate is checked against the platform's internal CA.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from nio import (Api, AsyncClient, AsyncClientConfig, JoinError, LoginError, MegolmEvent, RoomCreateError,
                 RoomMessageText, RoomPutStateError, RoomSendError, RoomSendResponse, SyncError, UploadError)
from nio.store import SqliteMemoryStore

SYNC_TIMEOUT_MS = 3000


class MatrixClientError(AssertionError):
    """A Matrix request failed; an AssertionError so that a test fails (not errors) with the server's answer."""


class _LabResolver(aiohttp.ThreadedResolver):
    """The tenant names resolved to their lab host's address (the lab has no DNS); SNI and Host stay the name."""

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__()
        self._names = names

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        results = await super().resolve(self._names.get(host, host), port, family)
        return [{**result, "hostname": host} for result in results]


@dataclass(frozen=True)
class Site:
    """How the tests reach tenants: public names -> lab addresses, and the CA their certificates chain to."""

    names: dict[str, str]
    ca_file: Path

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


class E2EEClient:
    """One Matrix device of one account, with encryption, driven synchronously."""

    def __init__(self, site: Site, homeserver: str) -> None:
        self.site = site
        self.loop = asyncio.new_event_loop()
        config = AsyncClientConfig(store=SqliteMemoryStore, encryption_enabled=True, store_sync_tokens=False,
                                   request_timeout=60)
        self.client = AsyncClient(homeserver, config=config, ssl=site.tls())
        self._undecrypted: dict[str, list[MegolmEvent]] = {}
        self.messages: dict[str, list[RoomMessageText]] = {}  # room id -> decrypted text messages seen

    def _run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def _session(self) -> None:
        if self.client.client_session is None:  # our own session: resolve the lab names, check the lab's CA
            self.client.client_session = self._run(self._new_session())

    async def _new_session(self) -> aiohttp.ClientSession:  # aiohttp builds these inside a running loop
        connector = aiohttp.TCPConnector(resolver=_LabResolver(self.site.names), ssl=self.site.tls())
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))

    # --- identity ---------------------------------------------------------------------------------------------

    def login(self, user: str, password: str) -> E2EEClient:
        """Password login (user: localpart or user id): a new device of that account."""
        self.client.user = user
        self._session()
        answer = self._run(self.client.login(password, device_name="counselkit-test"))
        if isinstance(answer, LoginError):
            raise MatrixClientError(f"login of {user} refused: {answer.status_code} {answer.message}")
        self._after_login()
        return self

    def use_token(self, user_id: str, device_id: str, access_token: str) -> E2EEClient:
        """Credentials another call created (e.g. POST /_counselkit/v1/register): this client becomes that device."""
        self._session()
        self.client.restore_login(user_id, device_id, access_token)  # also opens the (empty) crypto store
        self._after_login()
        return self

    def _after_login(self) -> None:
        if self.client.should_upload_keys:
            self._run(self.client.keys_upload())
        self.sync(full_state=True)

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    @property
    def device_id(self) -> str:
        return str(self.client.device_id)

    @property
    def ed25519(self) -> str:
        """This device's fingerprint as only the device itself knows it (the out-of-band value for `trust`)."""
        return str(self.client.olm.account.identity_keys["ed25519"])

    # --- trust ------------------------------------------------------------------------------------------------

    def trust(self, *peers: E2EEClient) -> None:
        """Verify each peer's device, after checking the key the homeserver publishes for it against the peer's own."""
        self._query_keys(force_users=[p.user_id for p in peers])
        for peer in peers:
            published = self.client.device_store.active_user_devices(peer.user_id)
            device = next((d for d in published if d.id == peer.device_id), None)
            if device is None:
                raise MatrixClientError(f"{self.user_id}: the server publishes no device {peer.device_id} of {peer.user_id}")
            if device.ed25519 != peer.ed25519:
                raise MatrixClientError(f"{self.user_id}: the server's key for {peer.user_id}/{peer.device_id} is not "
                                        "the one the device holds: not trusted")
            self.client.verify_device(device)

    def _query_keys(self, force_users: Iterable[str] = ()) -> None:
        for user in force_users:  # a user seen only now (e.g. a counsellor invited after our last sync)
            self.client.olm.users_for_key_query.add(user)
        if self.client.should_query_keys:
            self._run(self.client.keys_query())

    # --- rooms ------------------------------------------------------------------------------------------------

    def create_encrypted_room(self, invite: Iterable[str] = ()) -> str:
        initial = [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        answer = self._run(self.client.room_create(invite=list(invite), initial_state=initial, federate=False))
        if isinstance(answer, RoomCreateError):
            raise MatrixClientError(f"{self.user_id}: createRoom refused: {answer.status_code} {answer.message}")
        self.sync()
        return str(answer.room_id)

    def join(self, room_id: str) -> None:
        answer = self._run(self.client.join(room_id))
        if isinstance(answer, JoinError):
            raise MatrixClientError(f"{self.user_id}: join {room_id} refused: {answer.status_code} {answer.message}")
        self.sync()

    def send_text(self, room_id: str, body: str) -> str:
        """Send an encrypted m.text; refuses (nio raises) if the room is not encrypted or a member's device is
        unverified. Returns the event id."""
        self.sync()
        room = self.client.rooms.get(room_id)
        if room is None or not room.encrypted:
            raise MatrixClientError(f"{self.user_id}: {room_id} is not an encrypted room this device knows")
        self._send_prepare(room_id)
        answer = self._run(self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                                 ignore_unverified_devices=False))
        if isinstance(answer, RoomSendError):
            raise MatrixClientError(f"{self.user_id}: send to {room_id} refused: {answer.status_code} {answer.message}")
        return str(answer.event_id)

    def try_send_text(self, room_id: str, body: str) -> RoomSendError | None:
        """A send the server is expected to refuse (a removed counsellor, a closed enquiry): the error, or None if
        the server accepted it. Sent as a plain m.text through the raw client API, not encrypted: the refusal is
        the server's (membership, power levels, the module's policy) and must not depend on this client's room
        list or device checks; the body is a throwaway text, never a test sentence."""
        method, path, data = Api.room_send(self.client.access_token, room_id, "m.room.message",
                                           {"msgtype": "m.text", "body": body}, uuid.uuid4())
        answer = self._run(self.client._send(RoomSendResponse, method, path, data, response_data=(room_id,)))
        return answer if isinstance(answer, RoomSendError) else None

    def _send_prepare(self, room_id: str) -> None:
        """Fresh device lists, and a new Megolm session for every message: the room's members change during the
        counselling flow (accept removes counsellors, hand-over adds one), and a session shared once would not
        reach a device that came later. Costs nothing that matters in a test; a real client rotates on changes."""
        self._query_keys()
        self.client.olm.outbound_group_sessions.pop(room_id, None)

    def refuse_unverified(self, room_id: str) -> None:
        """Blacklist every device of the room's members that `trust` did not verify: they get no room key and the
        send does not stop at them. Explicit, as trusting is: a device nobody checked receives nothing."""
        self.sync()
        self._query_keys(force_users=list(self.client.rooms[room_id].users))
        for user_id in self.client.rooms[room_id].users:
            for device in self.client.device_store.active_user_devices(user_id):
                if not device.verified and not device.blacklisted:
                    self.client.blacklist_device(device)

    def upload_encrypted(self, room_id: str, data: bytes, filename: str) -> str:
        """Upload an attachment encrypted on this side (AES-CTR, key in the message) and send it as an encrypted
        m.file into the room; the mxc URI (the media store holds only the ciphertext)."""
        answer, keys = self._run(self.client.upload(io.BytesIO(data), "application/octet-stream", filename,
                                                    encrypt=True, filesize=len(data)))
        if isinstance(answer, UploadError):
            raise MatrixClientError(f"{self.user_id}: upload refused: {answer.status_code} {answer.message}")
        content = {"msgtype": "m.file", "body": filename, "file": {**(keys or {}), "url": answer.content_uri}}
        self._send_prepare(room_id)
        sent = self._run(self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=False))
        if isinstance(sent, RoomSendError):
            raise MatrixClientError(f"{self.user_id}: send of the file refused: {sent.status_code} {sent.message}")
        return str(answer.content_uri)

    def set_topic(self, room_id: str, topic: str) -> None:
        answer = self._run(self.client.room_put_state(room_id, "m.room.topic", {"topic": topic}))
        if isinstance(answer, RoomPutStateError):
            raise MatrixClientError(f"{self.user_id}: topic refused: {answer.status_code} {answer.message}")

    # --- receiving --------------------------------------------------------------------------------------------

    def sync(self, full_state: bool = False, timeout_ms: int = 0) -> None:
        """One /sync (a long poll of timeout_ms); keeps the room messages it decrypted and retries older ones."""
        answer = self._run(self.client.sync(timeout=timeout_ms, full_state=full_state))
        if isinstance(answer, SyncError):
            raise MatrixClientError(f"{self.user_id}: sync failed: {answer.status_code} {answer.message}")
        for room_id, room in answer.rooms.join.items():
            for event in room.timeline.events:
                self._keep(room_id, event)
        self._retry_undecrypted()

    def _keep(self, room_id: str, event: Any) -> None:
        if isinstance(event, RoomMessageText):
            self.messages.setdefault(room_id, []).append(event)
        elif isinstance(event, MegolmEvent):  # its room key may come in a later sync's to-device messages
            self._undecrypted.setdefault(room_id, []).append(event)

    def _retry_undecrypted(self) -> None:
        for room_id, events in list(self._undecrypted.items()):
            still: list[MegolmEvent] = []
            for event in events:
                try:
                    decrypted = self.client.decrypt_event(event)
                except Exception:  # nio raises EncryptionError while the key is missing
                    still.append(event)
                    continue
                self._keep(room_id, decrypted)
            self._undecrypted[room_id] = still

    def wait_for_text(self, room_id: str, body: str, sender: str | None = None, timeout: float = 60) -> RoomMessageText:
        """Sync until a decrypted m.text with this body (and sender) shows up in the room; fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.messages.get(room_id, []):
                if event.body == body and (sender is None or event.sender == sender):
                    if not event.decrypted:
                        raise MatrixClientError(f"{self.user_id}: the message in {room_id} arrived unencrypted")
                    return event
            if time.monotonic() > deadline:
                pending = len(self._undecrypted.get(room_id, []))
                raise MatrixClientError(f"{self.user_id}: no decrypted message {body!r} in {room_id} within {timeout} s "
                                        f"({pending} encrypted event(s) it holds no key for)")
            self.sync(timeout_ms=SYNC_TIMEOUT_MS)  # long poll: returns as soon as something arrives

    def close(self) -> None:
        try:
            self._run(self.client.close())
        finally:
            self.loop.close()

    def __enter__(self) -> E2EEClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _LabHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a tenant's public name, connected to the lab address the Site maps it to (SNI and Host: the name)."""

    def __init__(self, site: Site, domain: str) -> None:
        super().__init__(domain, 443, context=site.tls(), timeout=60)
        self._address = site.names.get(domain, domain)

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def api(site: Site, domain: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """One JSON request to https://<domain><path> (the counselling API or the client API); (status, JSON or {})."""
    connection = _LabHTTPSConnection(site, domain)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, None if body is None else json.dumps(body).encode(), headers)
        answer = connection.getresponse()
        raw = answer.read()
    finally:
        connection.close()
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"raw": raw[:500].decode("utf-8", "replace")}
    return answer.status, payload
