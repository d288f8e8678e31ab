"""The counselling flow on a deployed site with real end-to-end encryption clients (issue 15 points 6 and 8).

Uses the example site the lab fixtures deploy once (tests/lab/conftest.py `example_site`, node3): nothing is deployed
here. Every client is a real Matrix device with its own Olm/Megolm keys (tests/matrix_client.py) that reaches the
tenant at its public name https://<slug>.<domain> through nginx; counsellors are made with `counselkit counsellor
add` (the lab has no Keycloak). What the host stores is read on the host as root over SSH (pg_dump, the media store).

The first test needs only Synapse. The others test the counselling API (docs/counselling.md, docs/api/counselling.openapi.json),
which the Synapse module serves: without it they fail, on purpose, with the API's answer.
"""

from __future__ import annotations

import email
import email.policy
import os
import secrets as random_source
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio.exceptions import OlmUnverifiedDeviceError

from counselkit import layout
from counselkit.lab import ssh
from tests.matrix_client import E2EEClient, MatrixClientError, Site, api
from tests.support import REPO, environment_kept

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TENANT = "awo-kiel"
OTHER_TENANT = "diakonie-luebeck"
API = "/_counselkit/v1"


def run(host: Any, command: str, stdin: str = "") -> str:
    result = subprocess.run(ssh.ssh_argv(host, [command]), input=stdin, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout


def sentence() -> str:
    """A test sentence no database or file holds by chance."""
    return f"Ich brauche Hilfe, Kennwort {random_source.token_hex(12)}"


class Deployed:
    """The example site as the tests see it: plan, the public names, the internal CA, counsellor accounts."""

    def __init__(self, example_site: dict[str, Any], workdir: Path) -> None:
        from counselkit.ca import split_pem
        from counselkit.plan import load_plan
        from counselkit.secrets import SecretStore

        self.host = example_site["host"]
        self.tenants = Path(example_site["tenants"])
        self.env = dict(example_site["env"])
        self.plan = load_plan(self.tenants)
        with environment_kept(*self.env):
            os.environ.update(self.env)
            store = SecretStore.open(self.tenants)
            ca = split_pem(store.get(self.plan.platform_secrets["internal_ca"]))[1]
        ca_file = workdir / "ca.pem"
        ca_file.write_bytes(ca)
        self.site = Site({t.domain: self.plan.host(t.host).address for t in self.plan.tenants()}, ca_file)
        self.made: dict[str, list[str]] = {}  # counsellors made by add_counsellor, deactivated after the module

    def domain(self, slug: str) -> str:
        return self.plan.tenant(slug).domain

    def homeserver(self, slug: str) -> str:
        return f"https://{self.domain(slug)}"

    def try_add_counsellor(self, slug: str, prefix: str = "lab.c",
                           email: str | None = None) -> tuple[str, str, subprocess.CompletedProcess[str]]:
        """`counselkit counsellor add` as an operator runs it; (localpart, password, the finished command)."""
        username, password = f"{prefix}-{random_source.token_hex(4)}", random_source.token_urlsafe(18)
        options = [f"--ssh-option={o}" for o in ssh.ssh_options(self.host)]
        options += ["--email", email] if email else []
        result = subprocess.run([sys.executable, "-m", "counselkit.cli", "counsellor", "add", "--tenants",
                                 str(self.tenants), *options, slug, username], input=password + "\n", cwd=REPO,
                                env={**os.environ, **self.env}, capture_output=True, text=True, timeout=300)
        if result.returncode == 0:  # deactivated after the module (the fixture `deployed`), unless a test did
            self.made.setdefault(slug, []).append(username)
        return username, password, result

    def deactivate(self, slug: str, localparts: list[str]) -> None:
        """Offboard counsellor accounts for good (Synapse deactivation: they no longer take a seat), through a
        temporary admin over SSH as `counselkit access` does it."""
        from counselkit.access import revoke
        from counselkit.access.commands import _synapse_target
        from counselkit.secrets import SecretStore

        if not localparts:
            return
        with environment_kept(*self.env):
            os.environ.update(self.env)
            store = SecretStore.open(self.tenants)
        tenant, target = _synapse_target(self.plan, slug, tuple(ssh.ssh_options(self.host)))
        transport = revoke.ssh_curl_transport(revoke.target_ssh_argv(target))
        base = f"http://{layout.SYNAPSE_BIND_HOST}:{tenant.synapse_port}"
        with revoke.temporary_admin(base, store.get(tenant.secrets["registration_shared_secret"]), transport) as admin:
            for localpart in localparts:
                admin.call(revoke.deactivate_request(f"@{localpart}:{tenant.domain}"))
        self.made[slug] = [name for name in self.made.get(slug, []) if name not in localparts]

    def add_counsellor(self, slug: str, prefix: str = "lab.c", email: str | None = None) -> tuple[str, str]:
        """`counselkit counsellor add` as an operator runs it; (localpart, password)."""
        username, password, result = self.try_add_counsellor(slug, prefix, email)
        assert result.returncode == 0, result.stderr
        assert f"@{username}:{self.domain(slug)} registered (counsellor" in result.stdout
        assert password not in result.stdout + result.stderr
        return username, password

    def device(self, slug: str, username: str, password: str) -> E2EEClient:
        return E2EEClient(self.site, self.homeserver(slug)).login(username, password)

    def call(self, slug: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        return api(self.site, self.domain(slug), method, path, body, token)

    def psql(self, slug: str, sql: str) -> str:
        db = layout.tenant_names(slug)["db_name"]
        return run(self.host, f"cd / && runuser -u postgres -- psql -X -d {db} -tAc {shlex.quote(sql)}").strip()

    def occurrences(self, slug: str, needle: str) -> dict[str, int]:
        """How often `needle` occurs in a full pg_dump of the tenant's database and in its media store."""
        names = layout.tenant_names(slug)
        dump = run(self.host, f"cd / && runuser -u postgres -- pg_dump --no-owner {names['db_name']} "
                              f"| grep -c -F -- {shlex.quote(needle)} || true").strip()
        media = run(self.host, f"test -d {names['media_dir']} && grep -r -l -F -- {shlex.quote(needle)} "
                               f"{names['media_dir']} | wc -l || echo 0").strip()
        return {"pg_dump": int(dump or 0), "media": int(media.splitlines()[-1] or 0)}


@pytest.fixture(scope="module")
def deployed(example_site: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The site; afterwards the counsellors made here are deactivated, so they take no seat on a reused lab."""
    site = Deployed(example_site, tmp_path_factory.mktemp("counselling"))
    yield site
    for slug, localparts in site.made.items():
        site.deactivate(slug, localparts)


# --- end-to-end encryption on the deployed Synapse (no counselling module needed) ----------------------------------


def test_encrypted_message_is_never_stored_in_plaintext(deployed: Deployed) -> None:
    a_name, a_password = deployed.add_counsellor(TENANT)
    b_name, b_password = deployed.add_counsellor(TENANT)
    secret, topic, attachment = sentence(), f"Thema {random_source.token_hex(8)}", sentence()
    with deployed.device(TENANT, a_name, a_password) as a, deployed.device(TENANT, b_name, b_password) as b:
        room = a.create_encrypted_room(invite=[b.user_id])
        b.join(room)
        with pytest.raises(OlmUnverifiedDeviceError):  # b's device is not verified yet: a refuses to send
            a.send_text(room, "noch nicht")
        swapped = SimpleNamespace(user_id=b.user_id, device_id=b.device_id, ed25519=a.ed25519)
        with pytest.raises(MatrixClientError, match="not the one the device holds"):
            a.trust(swapped)  # a key that is not the one the server publishes for b's device: refused
        a.trust(b)
        b.trust(a)
        a.send_text(room, secret)
        assert b.wait_for_text(room, secret, sender=a.user_id).decrypted
        a.send_text(room, "Antwort: " + secret)  # a second Megolm session (rotated per send) works as well
        b.wait_for_text(room, "Antwort: " + secret, sender=a.user_id)
        reply = sentence()
        b.send_text(room, reply)
        a.wait_for_text(room, reply, sender=b.user_id)
        mxc = a.upload_encrypted(room, attachment.encode(), "notiz.txt")
        a.set_topic(room, topic)  # a state event: not encrypted by Matrix, so it shows that the search finds text
        a.sync()
    for needle in (secret, reply, attachment):
        assert deployed.occurrences(TENANT, needle) == {"pg_dump": 0, "media": 0}, needle
    # The same search finds what is stored in plaintext, and the ciphertext and the encrypted file are there.
    assert deployed.occurrences(TENANT, topic)["pg_dump"] >= 1
    room_sql = room.replace("'", "''")
    assert int(deployed.psql(TENANT, f"select count(*) from events where room_id = '{room_sql}' "
                                     "and type = 'm.room.encrypted'")) >= 3
    media_id = mxc.rsplit("/", 1)[-1]
    names = layout.tenant_names(TENANT)
    found = run(deployed.host, f"find {names['media_dir']} -type f -path {shlex.quote('*' + media_id[-10:])} | wc -l")
    assert int(found.strip()) >= 1, f"the uploaded (encrypted) file {mxc} is not in the media store"


# --- the counselling API (served by the Synapse module) --------------------------------------------------------------


STRONG = "Sommer-Regen-2026!"
RATE_LIMIT_WAIT_SECONDS = 150


def register(deployed: Deployed, slug: str, **changes: Any) -> tuple[int, Any]:
    """POST register. It is rate-limited per client address, and every test here comes from the control side's one
    address: a 429 is waited out (as long as its retry_after_ms says, if given), not taken as the answer."""
    body = {"username": f"hs{random_source.token_hex(5)}", "password": STRONG, "email": None, "postcode": None,
            "consent_version": "2026-01"}
    body.update(changes)
    deadline = time.monotonic() + RATE_LIMIT_WAIT_SECONDS
    while True:
        status, answer = deployed.call(slug, "POST", f"{API}/register", body)
        if status != 429 or time.monotonic() > deadline:
            return status, answer
        assert answer.get("errcode") == "CK_RATE_LIMITED", answer
        time.sleep(min(max(float(answer.get("retry_after_ms") or 5000) / 1000, 1), 30))


def help_seeker(deployed: Deployed, slug: str = TENANT) -> E2EEClient:
    status, answer = register(deployed, slug)
    assert status == 201, (status, answer)
    assert answer["user_id"].endswith(f":{deployed.domain(slug)}"), answer
    return E2EEClient(deployed.site, deployed.homeserver(slug)).use_token(
        answer["user_id"], answer["device_id"], answer["access_token"])


@pytest.fixture(scope="module")
def counsellors(deployed: Deployed) -> Iterator[list[E2EEClient]]:
    """Three counsellors of the tenant, each logged in with an encryption device before any enquiry is opened."""
    clients = [deployed.device(TENANT, *deployed.add_counsellor(TENANT)) for _ in range(3)]
    yield clients
    for client in clients:
        client.close()


def test_registration_rules(deployed: Deployed) -> None:
    status, answer = register(deployed, TENANT, username="ab")
    assert (status, answer.get("errcode"), answer.get("field")) == (400, "CK_INVALID", "username"), answer
    assert answer.get("error") and answer.get("error_de"), answer
    status, answer = register(deployed, TENANT, password="kurz")
    assert (status, answer.get("errcode"), answer.get("field")) == (400, "CK_INVALID", "password"), answer
    status, answer = register(deployed, TENANT, password="nurkleinbuchstaben")
    assert (status, answer.get("field")) == (400, "password"), answer
    status, answer = register(deployed, TENANT, username="<script>x</script>")
    assert (status, answer.get("field")) == (400, "username"), answer
    name = f"hs{random_source.token_hex(5)}"
    assert register(deployed, TENANT, username=name)[0] == 201
    status, answer = register(deployed, TENANT, username=name.upper())  # lower-cased: the same account
    assert (status, answer.get("errcode")) == (409, "CK_USERNAME_TAKEN"), answer
    status, _ = deployed.call(TENANT, "POST", "/_matrix/client/v3/register", {"username": name + "x", "password": STRONG})
    assert status == 403  # Synapse's own registration stays closed


def test_enquiry_accept_answer_handover_close(deployed: Deployed, counsellors: list[E2EEClient]) -> None:
    elsewhere = deployed.add_counsellor(OTHER_TENANT)[0]
    with help_seeker(deployed) as seeker:
        token = seeker.client.access_token
        status, enquiry = deployed.call(TENANT, "POST", f"{API}/enquiries", {"topic": None}, token)
        assert status == 201, (status, enquiry)
        room = enquiry["room_id"]
        invited = set(enquiry["counsellors"])
        assert {c.user_id for c in counsellors} <= invited, enquiry
        assert seeker.user_id not in invited
        assert all(u.endswith(f":{deployed.domain(TENANT)}") for u in invited)  # only this centre's counsellors
        assert f"@{elsewhere}:{deployed.domain(OTHER_TENANT)}" not in invited
        status, again = deployed.call(TENANT, "POST", f"{API}/enquiries", {"topic": None}, token)
        assert (status, again.get("errcode")) == (409, "CK_ENQUIRY_OPEN"), again

        seeker.join(room)
        assert seeker.client.rooms[room].encrypted
        seeker.trust(*counsellors)
        seeker.refuse_unverified(room)  # other counsellors' devices (earlier runs) get no key: never verified
        first = sentence()
        seeker.send_text(room, first)
        for counsellor in counsellors:
            counsellor.join(room)
            counsellor.wait_for_text(room, first, sender=seeker.user_id)
        status, queue = deployed.call(TENANT, "GET", f"{API}/enquiries", None, counsellors[0].client.access_token)
        assert status == 200 and room in [e["room_id"] for e in queue["open"]], queue

        # Everybody accepts at once: exactly one wins, the others get 409 and are removed from the room.
        answers: dict[str, tuple[int, Any]] = {}
        barrier = threading.Barrier(len(counsellors))

        def accept(c: E2EEClient) -> None:
            barrier.wait()
            answers[c.user_id] = deployed.call(TENANT, "POST", f"{API}/enquiries/{room}/accept", {}, c.client.access_token)

        threads = [threading.Thread(target=accept, args=(c,)) for c in counsellors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        winners = [u for u, (status, _) in answers.items() if status == 200]
        assert len(winners) == 1, answers
        winner = next(c for c in counsellors if c.user_id == winners[0])
        losers = [c for c in counsellors if c is not winner]
        assert answers[winner.user_id][1]["counsellor"] == winner.user_id
        assert all(answers[c.user_id][0] == 409 and answers[c.user_id][1]["errcode"] == "CK_ALREADY_ACCEPTED"
                   for c in losers), answers
        members = room_members(deployed, room, token)
        assert winner.user_id in members and seeker.user_id in members
        assert not any(c.user_id in members for c in losers), members
        assert not invited - {winner.user_id} & members, members  # every other counsellor is out, not only ours
        assert losers[0].try_send_text(room, "darf ich nicht") is not None

        answer_text = sentence()
        winner.trust(seeker)
        winner.send_text(room, answer_text)
        assert seeker.wait_for_text(room, answer_text, sender=winner.user_id).decrypted
        status, mine = deployed.call(TENANT, "GET", f"{API}/enquiries", None, token)
        assert status == 200 and any(e["room_id"] == room and e["counsellor"] == winner.user_id
                                     for e in mine.get("mine", [])), mine

        # Hand-over to a colleague: the colleague is in, the former counsellor out, and reads the next message.
        colleague = losers[0]
        status, handed = deployed.call(TENANT, "POST", f"{API}/enquiries/{room}/handover", {"to": colleague.user_id},
                                       winner.client.access_token)
        assert status == 200, handed
        colleague.join(room)
        members = room_members(deployed, room, token)
        assert colleague.user_id in members and winner.user_id not in members, members
        seeker.trust(colleague)
        after = sentence()
        seeker.send_text(room, after)
        colleague.wait_for_text(room, after, sender=seeker.user_id)

        status, closed = deployed.call(TENANT, "POST", f"{API}/enquiries/{room}/close", {}, colleague.client.access_token)
        assert status == 200, closed
        assert seeker.try_send_text(room, "noch eine Frage") is not None  # the help-seeker can no longer send
        for needle in (first, answer_text, after):
            assert deployed.occurrences(TENANT, needle) == {"pg_dump": 0, "media": 0}, needle


def room_members(deployed: Deployed, room: str, token: str) -> set[str]:
    """Joined and invited members, as the room's state says (read with a member's token)."""
    status, state = deployed.call(TENANT, "GET", f"/_matrix/client/v3/rooms/{room}/members", None, token)
    assert status == 200, state
    return {e["state_key"] for e in state["chunk"] if e["content"].get("membership") in ("join", "invite")}


def test_counsellors_set_and_remove_the_centres_absence_notice(deployed: Deployed,
                                                              counsellors: list[E2EEClient]) -> None:
    """A counsellor's absence notice stands in for tenants.yaml's until removed; help-seekers and strangers cannot
    set it; another centre is untouched."""
    configured = deployed.call(TENANT, "GET", f"{API}/centre")[1]["absence_message"]
    other_before = deployed.call(OTHER_TENANT, "GET", f"{API}/centre")[1]
    notice = f"Vom 24.12. bis 2.1. geschlossen {random_source.token_hex(3)}"
    token = counsellors[0].client.access_token
    try:
        status, centre = deployed.call(TENANT, "PUT", f"{API}/centre/absence", {"message": notice}, token)
        assert (status, centre.get("absence_message")) == (200, notice), centre
        assert deployed.call(TENANT, "GET", f"{API}/centre")[1]["absence_message"] == notice  # what anyone sees
        assert deployed.call(OTHER_TENANT, "GET", f"{API}/centre")[1] == other_before
        with help_seeker(deployed) as seeker:
            status, answer = deployed.call(TENANT, "PUT", f"{API}/centre/absence", {"message": "x"},
                                           seeker.client.access_token)
            assert (status, answer.get("errcode")) == (403, "CK_FORBIDDEN"), answer
            status, _ = deployed.call(TENANT, "DELETE", f"{API}/centre/absence", None, seeker.client.access_token)
            assert status == 403
        assert deployed.call(TENANT, "PUT", f"{API}/centre/absence", {"message": "x"})[0] == 401
        status, answer = deployed.call(TENANT, "PUT", f"{API}/centre/absence", {"message": "a\nb"}, token)
        assert (status, answer.get("field")) == (400, "message"), answer
        assert deployed.call(TENANT, "GET", f"{API}/centre")[1]["absence_message"] == notice
        status, centre = deployed.call(TENANT, "DELETE", f"{API}/centre/absence", None, token)
        assert (status, centre.get("absence_message")) == (200, configured), centre
    finally:
        deployed.call(TENANT, "DELETE", f"{API}/centre/absence", None, token)


def test_help_seeker_token_is_worthless_at_another_tenant(deployed: Deployed) -> None:
    with help_seeker(deployed) as seeker:
        token = seeker.client.access_token
        assert deployed.call(TENANT, "GET", "/_matrix/client/v3/account/whoami", None, token)[0] == 200
        status, answer = deployed.call(OTHER_TENANT, "GET", "/_matrix/client/v3/account/whoami", None, token)
        assert (status, answer.get("errcode")) == (401, "M_UNKNOWN_TOKEN"), answer
        status, _ = deployed.call(OTHER_TENANT, "POST", f"{API}/enquiries", {"topic": None}, token)
        assert status == 401


def test_help_seeker_cannot_create_rooms_or_invite(deployed: Deployed, counsellors: list[E2EEClient]) -> None:
    with help_seeker(deployed) as seeker, help_seeker(deployed) as other:
        token = seeker.client.access_token
        status, answer = deployed.call(TENANT, "POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, token)
        assert status == 403, answer
        status, answer = deployed.call(TENANT, "POST", "/_matrix/client/v3/createRoom",
                                       {"invite": [counsellors[0].user_id], "is_direct": True}, token)
        assert status == 403, answer  # no message to a counsellor outside the enquiry
        status, enquiry = deployed.call(TENANT, "POST", f"{API}/enquiries", {"topic": None}, token)
        assert status == 201, enquiry
        seeker.join(enquiry["room_id"])
        status, answer = deployed.call(TENANT, "POST", f"/_matrix/client/v3/rooms/{enquiry['room_id']}/invite",
                                       {"user_id": other.user_id}, token)
        assert status == 403, answer
        status, answer = deployed.call(TENANT, "POST", f"{API}/enquiries/{enquiry['room_id']}/accept", {}, token)
        assert status == 403, answer  # a help-seeker is no counsellor


# --- content-free e-mail notices through the platform's relay (the lab's SMTP sink) --------------------------------


def sink_messages_to(address: str, needle: str = "", timeout: float = 90) -> list[email.message.Message]:
    """The messages the lab's SMTP sink received for `address` (its envelope) whose plain text holds `needle`,
    waiting until there is one."""
    from counselkit.lab import settings
    from counselkit.lab.smtp_sink import read_messages

    deadline = time.monotonic() + timeout
    while True:
        mails = [email.message_from_bytes(raw, policy=email.policy.default)
                 for raw in read_messages(settings.SMTP_SINK_DIR)
                 if f"X-Counselkit-Sink-Rcpt-To: {address}".encode() in raw]
        found = [m for m in mails if needle in m.get_body(("plain",)).get_content()]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(2)


def test_new_enquiry_notice_reaches_counsellors_without_content(deployed: Deployed) -> None:
    """A counsellor with an e-mail address gets one notice per new enquiry through platform.smtp (the lab's SMTP
    sink): the centre's name, and nothing of the help-seeker (name, e-mail, postcode), the room or what they
    wrote."""
    address = f"notice-{random_source.token_hex(4)}@awo-kiel.example"
    deployed.add_counsellor(TENANT, prefix="lab.n", email=address)
    name, postcode, seeker_mail = f"hs{random_source.token_hex(5)}", "24103", f"hs-{random_source.token_hex(4)}@x.example"
    status, answer = register(deployed, TENANT, username=name, postcode=postcode, email=seeker_mail)
    assert status == 201, answer
    status, enquiry = deployed.call(TENANT, "POST", f"{API}/enquiries", {"topic": None}, answer["access_token"])
    assert status == 201, enquiry
    messages = sink_messages_to(address)
    assert len(messages) == 1, f"{len(messages)} notices for {address} in the lab's SMTP sink"
    notice = messages[0]
    centre = deployed.plan.tenant(TENANT).tenant.name
    assert notice["Subject"] == f"Neue Anfrage bei {centre}", notice["Subject"]
    text = notice.as_string()
    leaked = [value for value in (name, postcode, seeker_mail, enquiry["room_id"], answer["user_id"]) if value in text]
    assert not leaked, f"the notice names the help-seeker or the room: {leaked}"
    sender = deployed.plan.platform.smtp
    assert sender is not None and sender.from_address in notice["From"], notice["From"]


SEATS_TENANT = "skf-husum"  # the example's smallest licence; no other suite makes counsellors there


def test_counsellors_beyond_the_licensed_seats_are_refused_and_the_admins_told(deployed: Deployed) -> None:
    """tenants.yaml seats: the counselling module refuses the account beyond them (an SSO login's first one, or
    `counselkit counsellor add`: exit 2 with the reason) and tells the centre's admins by e-mail; deactivating an
    account frees its seat. The accounts made here are deactivated again (at the latest by the fixture `deployed`)."""
    tenant = deployed.plan.tenant(SEATS_TENANT).tenant
    added: list[str] = []
    for _ in range(tenant.seats + 1):  # accounts of earlier runs on a reused lab were deactivated: all free
        username, _, result = deployed.try_add_counsellor(SEATS_TENANT, prefix="lab.s")
        if result.returncode != 0:
            break
        added.append(username)
    assert len(added) == tenant.seats, f"{len(added)} accounts made before a refusal, seats: {tenant.seats}"
    assert result.returncode == 2, result.stderr
    assert f"all {tenant.seats} licensed counsellor seats of {SEATS_TENANT} are taken" in result.stderr
    refused = username
    admin = tenant.admins[0].email
    told = sink_messages_to(admin, needle=f"„{refused}“")
    assert len(told) == 1, f"no seats notice about {refused} to {admin}"
    assert told[0]["Subject"] == f"Kein freier Beratungsplatz bei {tenant.name}"
    deployed.deactivate(SEATS_TENANT, added[:1])  # a seat is free again
    added = added[1:]
    username, _, result = deployed.try_add_counsellor(SEATS_TENANT, prefix="lab.s")
    assert result.returncode == 0, result.stderr
    added.append(username)
    deployed.deactivate(SEATS_TENANT, added)  # the seats are free again at once (else after the module)
