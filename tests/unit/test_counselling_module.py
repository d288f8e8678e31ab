"""The counselling module's pure logic (synapse_module/counselkit_synapse: logic.py, store.py) without Synapse.

store.py's SQL runs here on SQLite through a cursor that behaves like Synapse's LoggingTransaction (`?` placeholders,
rowcount, fetchone/fetchall); on the hosts the same statements run on PostgreSQL.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from counselkit import layout
from tests.support import REPO

sys.path.insert(0, str(REPO / layout.SYNAPSE_MODULE_SOURCE))
from counselkit_synapse import logic, store  # noqa: E402

GOOD = {"username": "Anon.Person_1", "password": "Sehr-geheim-42!", "email": None, "postcode": "24103",
        "consent_version": "2026-11"}


def test_a_good_registration_is_accepted_and_lower_cased() -> None:
    reg = logic.parse_registration(dict(GOOD))
    assert reg.username == "anon.person_1" and reg.postcode == "24103" and reg.email is None


@pytest.mark.parametrize(("field", "value"), [
    ("username", "abcd"), ("username", "a" * 31), ("username", "anna müller"), ("username", "anna@x"),
    ("username", 12345), ("username", "anna\u202eevil"),
    ("password", "short1!A"), ("password", "alllowercase12!"), ("password", "ALLUPPERCASE12!"),
    ("password", "NoDigitsHere!!"), ("password", "NoSpecial12345"), ("password", "A1!a" * 200),
    ("password", "Line\nbreak12!A"),
    ("email", "not-an-email"), ("email", "a@b"), ("email", 5),
    ("postcode", "1234"), ("postcode", "12345a"), ("postcode", "１２３４５"),
    ("consent_version", ""), ("consent_version", None), ("consent_version", "v1\u2028"), ("consent_version", " v1"),
])
def test_bad_registration_fields_are_named(field: str, value: Any) -> None:
    with pytest.raises(logic.ApiError) as caught:
        logic.parse_registration({**GOOD, field: value})
    body = caught.value.body()
    assert caught.value.status == 400 and body["errcode"] == "CK_INVALID" and body["field"] == field
    assert body["error"] and body["error_de"] and body["error"] != body["error_de"]


def test_unknown_fields_and_non_objects_are_refused() -> None:
    with pytest.raises(logic.ApiError) as caught:
        logic.parse_registration({**GOOD, "admin": True})
    assert caught.value.body()["field"] == "body"
    for body in (None, [], "x", 1):
        with pytest.raises(logic.ApiError) as caught:
            logic.parse_registration(body)
        assert caught.value.errcode == "CK_NOT_JSON"


def test_every_error_code_has_both_languages_and_a_4xx_or_5xx_status() -> None:
    for code, (status, english, german) in logic.ERRORS.items():
        assert code.startswith("CK_") and 400 <= status < 600 and english and german and english != german


def test_topics_are_chosen_from_the_centre_never_free_text() -> None:
    topics = ["Schwangerschaft", "Sucht"]
    assert logic.parse_topic({"topic": "Sucht"}, topics) == "Sucht"
    assert logic.parse_topic(None, topics) is None and logic.parse_topic({}, topics) is None
    for bad in ({"topic": "<script>"}, {"topic": 3}, {"topic": "Sucht", "x": 1}):
        with pytest.raises(logic.ApiError):
            logic.parse_topic(bad, topics)


def test_handover_target_must_be_a_local_user_id() -> None:
    assert logic.parse_handover({"to": "@berater2:awo.example.org"}, "awo.example.org") == "@berater2:awo.example.org"
    for bad in ({"to": "@b:other.example.org"}, {"to": "berater2"}, {"to": None}, {}, []):
        with pytest.raises(logic.ApiError):
            logic.parse_handover(bad, "awo.example.org")


def test_enquiry_room_is_encrypted_invite_only_unfederated_with_ordered_power_levels() -> None:
    config = logic.enquiry_room_config("@counselkit:s", "@hs:s", ["@c1:s", "@c2:s"], "Sucht", "AWO")
    state = {e["type"]: e["content"] for e in config["initial_state"]}
    assert state["m.room.encryption"] == {"algorithm": "m.megolm.v1.aes-sha2"}
    assert state["m.room.join_rules"] == {"join_rule": "invite"}
    assert state["m.room.history_visibility"] == {"history_visibility": "invited"}
    assert config["creation_content"] == {"m.federate": False}
    assert config["invite"] == ["@hs:s", "@c1:s", "@c2:s"]
    users = config["power_level_content_override"]["users"]
    assert users["@counselkit:s"] > users["@c1:s"] == users["@c2:s"] > users["@hs:s"]
    levels = config["power_level_content_override"]
    assert levels["invite"] == users["@counselkit:s"]  # only the service invites
    assert levels["events"]["m.room.encryption"] == users["@counselkit:s"]


SERVICE = "@counselkit:s"


def facts(help_seeker: bool, enquiry_of: str | None = None, closed: bool = False) -> logic.Facts:
    return logic.Facts(service=SERVICE, actor_is_help_seeker=help_seeker, room_enquiry_of=enquiry_of,
                       room_closed=closed)


def test_policy_help_seekers_create_no_rooms_and_invite_nobody() -> None:
    assert not logic.may_create_room("@hs:s", facts(True))
    assert logic.may_create_room("@c:s", facts(False))
    assert not logic.may_invite("@hs:s", False, facts(True))
    assert not logic.may_invite("@hs:s", True, facts(True))


def test_policy_counsellors_cannot_invite_help_seekers_but_the_service_can() -> None:
    assert not logic.may_invite("@c:s", True, facts(False))
    assert logic.may_invite("@c:s", False, facts(False))
    assert logic.may_invite(SERVICE, True, facts(False))


def test_policy_help_seekers_join_only_their_own_open_enquiry_on_invitation() -> None:
    assert logic.may_join("@hs:s", True, facts(True, "@hs:s"))
    assert not logic.may_join("@hs:s", False, facts(True, "@hs:s"))
    assert not logic.may_join("@hs:s", True, facts(True, "@other:s"))
    assert not logic.may_join("@hs:s", True, facts(True, None))
    assert not logic.may_join("@hs:s", True, facts(True, "@hs:s", closed=True))
    assert logic.may_join("@c:s", False, facts(False))


def test_policy_help_seekers_message_only_in_their_open_enquiry() -> None:
    mine = facts(True, "@hs:s")
    assert logic.may_send("@hs:s", "m.room.encrypted", False, None, mine)
    assert not logic.may_send("@hs:s", "m.room.encrypted", False, None, facts(True, "@other:s"))
    assert not logic.may_send("@hs:s", "m.room.encrypted", False, None, facts(True, None))
    assert not logic.may_send("@hs:s", "m.room.encrypted", False, None, facts(True, "@hs:s", closed=True))
    assert not logic.may_send("@hs:s", "m.room.name", True, None, mine)
    assert logic.may_send("@hs:s", "m.room.member", True, "leave", facts(True, None))
    assert not logic.may_send("@hs:s", "m.room.member", True, "invite", mine)
    assert logic.may_send("@c:s", "m.room.message", False, None, facts(False))


def test_rate_limit_is_per_address_and_refills() -> None:
    now = [0.0]
    limiter = logic.RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    assert limiter.allow("192.0.2.1") and limiter.allow("192.0.2.1")
    assert not limiter.allow("192.0.2.1")
    assert limiter.allow("192.0.2.2")
    now[0] += 10.0  # 6 per minute: one token back after 10 s
    assert limiter.allow("192.0.2.1") and not limiter.allow("192.0.2.1")


def test_rate_limit_memory_is_bounded() -> None:
    limiter = logic.RateLimiter(per_minute=1, burst=1, clock=lambda: 0.0, max_keys=100)
    for n in range(1000):
        limiter.allow(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter._buckets) <= 100


def test_module_config_as_the_template_writes_it() -> None:
    from counselkit import render
    from counselkit.plan import load_plan
    from ruamel.yaml import YAML

    plan = load_plan(REPO / "tenants.yaml")
    ctx = render.host_context(render.host_vars(plan, plan.hosts[0]), lambda ref: "x")
    slug = ctx["tenants"][0]["slug"]
    files = render.render_tenant_files(ctx, slug)
    homeserver = YAML(typ="safe").load(files[ctx["tenants"][0]["homeserver_yaml"]])
    (entry,) = homeserver["modules"]
    assert entry["module"] == layout.SYNAPSE_MODULE_CLASS
    config = logic.parse_config(entry["config"])
    assert config.service_localpart == layout.COUNSELLING_SERVICE_LOCALPART
    assert config.topics == ctx["tenants"][0]["counselling"]["topics"]
    with pytest.raises(ValueError, match="retention_days"):
        logic.parse_config({**entry["config"], "retention_days": "30"})
    tenant = plan.tenant(slug).tenant
    assert config.seats == tenant.seats
    assert config.admin_emails == tuple(a.email for a in tenant.admins)
    assert config.operator_prefixes == (layout.OPERATOR_ACCOUNT_PREFIX,)
    for bad in ({"seats": 0}, {"seats": True}, {"admin_emails": "a@b.example"}, {"operator_prefixes": [""]},
                {"admin_emails": ["a@b.example\nBcc: x@evil.example"]}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            logic.parse_config({**entry["config"], **bad})


def test_who_takes_a_seat() -> None:
    config = logic.Config(centre_name="C", topics=[], opening_hours="x", absence_message=None, retention_days=30,
                          notify_counsellors=False, service_localpart="counselkit", register_per_minute=1.0,
                          register_burst=1, openapi_path=None, seats=2, operator_prefixes=("counselkit-ops-",))
    assert logic.takes_a_seat("b.jensen", config, is_help_seeker=False)
    assert logic.takes_a_seat(None, config, is_help_seeker=False)  # a generated localpart is somebody, too
    assert not logic.takes_a_seat("hs12345", config, is_help_seeker=True)
    assert not logic.takes_a_seat("counselkit", config, is_help_seeker=False)
    assert not logic.takes_a_seat("counselkit-ops-0a1b2c", config, is_help_seeker=False)
    assert [logic.seat_free(config, n) for n in (0, 1, 2, 3)] == [True, True, False, False]
    unlimited = logic.Config(**{**config.__dict__, "seats": None})
    assert logic.seat_free(unlimited, 10_000)


class Txn:
    """Synapse's LoggingTransaction as store.py uses it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.cursor = conn.cursor()

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        self.cursor.execute(sql, args)

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self.cursor.fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Any:
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE users (name TEXT PRIMARY KEY, deactivated SMALLINT DEFAULT 0 NOT NULL, "
                 "is_guest SMALLINT DEFAULT 0 NOT NULL)")
    # Synapse's table of requests per access token (full_schemas/72), read by the retention purge.
    conn.execute("CREATE TABLE user_ips (user_id TEXT NOT NULL, access_token TEXT NOT NULL, device_id TEXT, "
                 "ip TEXT NOT NULL, user_agent TEXT NOT NULL, last_seen BIGINT NOT NULL)")
    # Synapse's key backup tables (full_schemas/72), emptied by the erasure
    conn.execute("CREATE TABLE e2e_room_keys (user_id TEXT NOT NULL, room_id TEXT NOT NULL, session_id TEXT NOT NULL, "
                 "version BIGINT NOT NULL, session_data TEXT NOT NULL)")
    conn.execute("CREATE TABLE e2e_room_keys_versions (user_id TEXT NOT NULL, version BIGINT NOT NULL, "
                 "algorithm TEXT NOT NULL, auth_data TEXT NOT NULL, deleted SMALLINT DEFAULT 0 NOT NULL)")
    store.create_schema(Txn(conn))
    store.create_schema(Txn(conn))  # idempotent: every start runs it

    def run(func: Any, *args: Any) -> Any:
        return func(Txn(conn), *args)

    run.conn = conn  # type: ignore[attr-defined]
    yield run
    conn.close()


def test_a_help_seeker_is_recorded_before_the_account_and_never_counts_as_counsellor(db: Any) -> None:
    assert db(store.claim_help_seeker, "@hs:s", 1, "v1", "24103", None)
    assert not db(store.claim_help_seeker, "@hs:s", 2, "v2", None, "evil@x.example")  # never overwritten
    for name in ("@hs:s", "@c1:s", "@c2:s", SERVICE, "@gone:s", "@remote:other"):
        db.conn.execute("INSERT INTO users (name, deactivated) VALUES (?, ?)", (name, int(name == "@gone:s")))
    assert db(store.counsellors, "s", SERVICE) == ["@c1:s", "@c2:s"]
    db.conn.execute("INSERT INTO users (name) VALUES ('@counselkit-ops-0a1b:s')")  # the operator's, for a minute
    assert db(store.counsellors, "s", SERVICE, ("counselkit-ops-",)) == ["@c1:s", "@c2:s"]
    assert "@counselkit-ops-0a1b:s" in db(store.counsellors, "s", SERVICE)
    assert db(store.is_help_seeker, "@hs:s") and not db(store.is_help_seeker, "@c1:s")
    db(store.remove_help_seeker, "@hs:s", 3)
    assert db(store.is_help_seeker, "@hs:s")  # erased data, but still never a counsellor
    assert db.conn.execute("SELECT postcode, email FROM counselkit_help_seekers").fetchall() == [(None, None)]


def test_one_open_enquiry_per_help_seeker(db: Any) -> None:
    assert db(store.reserve_enquiry, "e1", "@hs:s", None, 1)
    assert not db(store.reserve_enquiry, "e2", "@hs:s", None, 2)
    db(store.set_room, "e1", "!r1:s")
    db(store.accept, "!r1:s", "@c1:s", 3)
    assert db(store.close, "!r1:s", "@c1:s", 4)
    assert db(store.reserve_enquiry, "e3", "@hs:s", "Sucht", 5)  # closed: a new one may open


def test_a_failed_room_creation_frees_the_reservation(db: Any) -> None:
    assert db(store.reserve_enquiry, "e1", "@hs:s", None, 1)
    db(store.drop_reservation, "e1")
    assert db(store.reserve_enquiry, "e2", "@hs:s", None, 2)


def test_accept_has_exactly_one_winner_under_concurrency(db: Any, tmp_path: Path) -> None:
    db(store.reserve_enquiry, "e1", "@hs:s", None, 1)
    db(store.set_room, "e1", "!r1:s")
    results: dict[str, bool] = {}
    barrier = threading.Barrier(8)

    def contender(name: str) -> None:
        conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None, timeout=30)
        barrier.wait()
        results[name] = store.accept(Txn(conn), "!r1:s", name, 2)
        conn.close()

    threads = [threading.Thread(target=contender, args=(f"@c{n}:s",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [name for name, won in results.items() if won]
    assert len(results) == 8 and len(winners) == 1
    assert db(store.enquiry_by_room, "!r1:s")["counsellor"] == winners[0]
    assert db(store.open_enquiries) == []


def test_handover_and_close_only_by_the_assigned_counsellor(db: Any) -> None:
    db(store.reserve_enquiry, "e1", "@hs:s", "Sucht", 1)
    db(store.set_room, "e1", "!r1:s")
    assert [e["room_id"] for e in db(store.open_enquiries)] == ["!r1:s"]
    assert db(store.accept, "!r1:s", "@c1:s", 2)
    assert not db(store.hand_over, "!r1:s", "@c2:s", "@c3:s")
    assert db(store.hand_over, "!r1:s", "@c1:s", "@c2:s")
    assert [e["room_id"] for e in db(store.enquiries_of_counsellor, "@c2:s")] == ["!r1:s"]
    assert not db(store.close, "!r1:s", "@c1:s", 3)
    assert db(store.close, "!r1:s", "@c2:s", 3)
    assert db(store.enquiries_of_help_seeker, "@hs:s")[0]["closed_at"] == 3


DAY = logic.DAY_MS


def help_seeker_with_room(db: Any, user_id: str, registered: int, room_id: str) -> None:
    assert db(store.claim_help_seeker, user_id, registered, "v1", "24103", "hs@example.org")
    db.conn.execute("INSERT INTO users (name) VALUES (?)", (user_id,))
    assert db(store.reserve_enquiry, "e-" + room_id, user_id, None, registered)
    db(store.set_room, "e-" + room_id, room_id)


def candidates(db: Any, now: int, retention_days: int = 30) -> list[tuple[str, bool]]:
    return db(store.purge_candidates, logic.purge_cutoff(now, retention_days), logic.PURGE_BATCH)


def test_purge_selects_help_seekers_idle_longer_than_the_retention_period(db: Any) -> None:
    help_seeker_with_room(db, "@idle:s", 0, "!r1:s")
    help_seeker_with_room(db, "@busy:s", 0, "!r2:s")
    help_seeker_with_room(db, "@reader:s", 0, "!r3:s")
    db.conn.execute("INSERT INTO users (name) VALUES ('@c1:s')")  # a counsellor is never a candidate
    db(store.touch_activity, "@busy:s", 20 * DAY)  # sent a message on day 20
    db.conn.execute("INSERT INTO user_ips VALUES ('@reader:s', 't', 'D', '127.0.0.1', 'ua', ?)", (25 * DAY,))
    assert candidates(db, 29 * DAY) == []  # nobody idle for 30 days yet
    assert candidates(db, 31 * DAY) == [("@idle:s", True)]  # the moved clock: day 31
    assert candidates(db, 51 * DAY) == [("@busy:s", True), ("@idle:s", True)]  # reader seen on day 25
    assert candidates(db, 56 * DAY) == [("@busy:s", True), ("@idle:s", True), ("@reader:s", True)]
    assert candidates(db, 56 * DAY, retention_days=60) == []


def test_activity_is_never_moved_back(db: Any) -> None:
    help_seeker_with_room(db, "@hs:s", 0, "!r1:s")
    db(store.touch_activity, "@hs:s", 40 * DAY)
    db(store.touch_activity, "@hs:s", 10 * DAY)  # a late write of an older activity
    assert candidates(db, 60 * DAY) == []
    assert candidates(db, 71 * DAY) == [("@hs:s", True)]


def test_a_purged_help_seeker_keeps_only_the_bare_row_and_is_not_selected_again(db: Any) -> None:
    help_seeker_with_room(db, "@hs:s", 0, "!r1:s")
    db(store.touch_activity, "@hs:s", 1)
    assert candidates(db, 31 * DAY) == [("@hs:s", True)]
    # what module.purge_help_seeker does: erase and deactivate (Synapse sets users.deactivated), purge the rooms,
    # then drop the rows; interrupted after the deactivation, the help-seeker is found again for its rooms
    db(store.remove_help_seeker, "@hs:s", 31 * DAY)
    db.conn.execute("UPDATE users SET deactivated = 1 WHERE name = '@hs:s'")
    assert candidates(db, 31 * DAY) == [("@hs:s", False)]
    assert db(store.rooms_of_help_seeker, "@hs:s") == ["!r1:s"]
    db(store.drop_purged, "@hs:s")
    assert candidates(db, 400 * DAY) == []
    assert db(store.rooms_of_help_seeker, "@hs:s") == []
    assert db.conn.execute("SELECT * FROM counselkit_help_seekers").fetchall() == [("@hs:s", 0, "v1", None, None)]
    assert db.conn.execute("SELECT COUNT(*) FROM counselkit_enquiries").fetchone() == (0,)
    assert db.conn.execute("SELECT COUNT(*) FROM counselkit_activity").fetchone() == (0,)
    assert db(store.is_help_seeker, "@hs:s")  # the name still never counts as a counsellor


def test_a_self_deleted_help_seekers_rooms_are_purged_after_the_retention_period(db: Any) -> None:
    help_seeker_with_room(db, "@gone:s", 0, "!r1:s")
    db(store.touch_activity, "@gone:s", 10 * DAY)  # DELETE account on day 10
    db(store.remove_help_seeker, "@gone:s", 10 * DAY)
    db.conn.execute("UPDATE users SET deactivated = 1 WHERE name = '@gone:s'")
    assert candidates(db, 39 * DAY) == []
    assert candidates(db, 41 * DAY) == [("@gone:s", False)]


def test_purge_runs_are_bounded() -> None:
    assert logic.purge_cutoff(100 * DAY, 30) == 70 * DAY
    params = logic.shutdown_params(SERVICE)
    assert params["purge"] and params["force_purge"] and not params["block"]
    assert params["new_room_user_id"] is None and params["requester_user_id"] == SERVICE


def test_activity_writes_are_throttled_per_help_seeker() -> None:
    throttle = logic.ActivityThrottle(interval_ms=1000, max_keys=10)
    assert throttle.due("@a:s", 0) and not throttle.due("@a:s", 999) and throttle.due("@a:s", 1000)
    assert throttle.due("@b:s", 999)
    throttle.forget("@b:s")  # its write failed
    assert throttle.due("@b:s", 1000)
    for n in range(100):
        throttle.due(f"@u{n}:s", 5000)
    assert len(throttle._written) <= 10


def test_purge_interval_from_the_module_config() -> None:
    base = {"centre_name": "AWO", "topics": [], "opening_hours": "x", "retention_days": 30,
            "notify_counsellors": False, "service_localpart": "counselkit", "register_per_minute": 1,
            "register_burst": 1}
    assert logic.parse_config(base).purge_interval_seconds == logic.PURGE_INTERVAL_DEFAULT
    assert logic.parse_config({**base, "purge_interval_seconds": 5}).purge_interval_seconds == 5
    for bad in (0, "5", True):
        with pytest.raises(ValueError, match="purge_interval_seconds"):
            logic.parse_config({**base, "purge_interval_seconds": bad})


def test_the_served_openapi_document_is_valid_json_naming_every_route() -> None:
    doc = json.loads((REPO / layout.COUNSELLING_OPENAPI_SOURCE).read_text())
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/register", "/centre", "/openapi.json", "/enquiries", "/enquiries/{room_id}/accept",
                                 "/enquiries/{room_id}/handover", "/enquiries/{room_id}/close", "/account",
                                 "/centre/absence"}
    codes = set(doc["components"]["schemas"]["Error"]["properties"]["errcode"]["enum"])
    assert codes == set(logic.ERRORS)


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("POST", "/_counselkit/v1/register", ("register", None)),
    ("GET", "/_counselkit/v1/register", None),
    ("GET", "/_counselkit/v1/centre", ("centre", None)),
    ("GET", "/_counselkit/v1/openapi.json", ("openapi", None)),
    ("POST", "/_counselkit/v1/enquiries", ("create_enquiry", None)),
    ("GET", "/_counselkit/v1/enquiries", ("list_enquiries", None)),
    ("POST", "/_counselkit/v1/enquiries/%21abc%3As/accept", ("accept", "!abc:s")),
    ("POST", "/_counselkit/v1/enquiries/!abc:s/handover", ("handover", "!abc:s")),
    ("POST", "/_counselkit/v1/enquiries/!abc:s/close", ("close", "!abc:s")),
    ("DELETE", "/_counselkit/v1/account", ("delete_account", None)),
    ("PUT", "/_counselkit/v1/centre/absence", ("set_absence", None)),
    ("DELETE", "/_counselkit/v1/centre/absence", ("clear_absence", None)),
    ("GET", "/_counselkit/v1/centre/absence", None),
    ("PUT", "/_counselkit/v1/centre%2Fabsence", None),
    ("PUT", "/_counselkit/v1/centre/absence/x", None),
    ("POST", "/_counselkit/v1/enquiries/!abc:s/delete", None),
    ("POST", "/_counselkit/v1/../register", None),
    ("GET", "/_counselkit/v2/centre", None),
])
def test_routes(method: str, path: str, expected: Any) -> None:
    assert logic.route(logic.PREFIX, method, path) == expected


def test_room_ids_from_paths_are_checked() -> None:
    assert logic.check_room_id("!abc:s") == "!abc:s"
    for bad in ("abc", "!a b:s", "!abc", "!abc:s/../x"):
        with pytest.raises(logic.ApiError):
            logic.check_room_id(bad)


def test_a_wrong_method_is_told_apart_from_an_unknown_path() -> None:
    assert logic.known_path(logic.PREFIX, "/_counselkit/v1/register")  # GET register: CK_METHOD (405)
    assert logic.known_path(logic.PREFIX, "/_counselkit/v1/enquiries/!a:s/accept")
    assert not logic.known_path(logic.PREFIX, "/_counselkit/v1/nope")
    assert logic.ERRORS["CK_METHOD"][0] == 405 and logic.ERRORS["CK_NOT_FOUND"][0] == 404


def backed_up(db: Any, user_id: str) -> tuple[int, int]:
    return (db.conn.execute("SELECT COUNT(*) FROM e2e_room_keys WHERE user_id = ?", (user_id,)).fetchone()[0],
            db.conn.execute("SELECT COUNT(*) FROM e2e_room_keys_versions WHERE user_id = ?", (user_id,)).fetchone()[0])


@pytest.mark.parametrize("erase", ["delete account", "retention purge"])
def test_erasure_removes_the_help_seekers_key_backup_only(db: Any, erase: str) -> None:
    """The web app backs up a help-seeker's room keys on the server (encrypted): deleting the account or the retention
    purge removes them and the backup versions; another user's backup stays."""
    for user in ("@hs:s", "@c1:s"):
        db.conn.execute("INSERT INTO e2e_room_keys_versions VALUES (?, 1, 'm.megolm_backup.v1.curve25519-aes-sha2', "
                        "'{}', 0)", (user,))
        db.conn.execute("INSERT INTO e2e_room_keys VALUES (?, '!r1:s', 'sess', 1, '{\"ciphertext\": \"x\"}')", (user,))
    assert backed_up(db, "@hs:s") == (1, 1)
    if erase == "delete account":
        db(store.remove_help_seeker, "@hs:s", 3)
    else:
        db(store.drop_purged, "@hs:s")
    assert backed_up(db, "@hs:s") == (0, 0)
    assert backed_up(db, "@c1:s") == (1, 1)


def test_the_absence_notice_is_one_line_of_bounded_text() -> None:
    assert logic.parse_absence({"message": "  Wir sind bis zum 2. Januar nicht erreichbar.  "}) == \
        "Wir sind bis zum 2. Januar nicht erreichbar."
    assert logic.parse_absence({"message": "x" * logic.ABSENCE_MAX}) == "x" * logic.ABSENCE_MAX
    for bad, field in (({"message": ""}, "message"), ({"message": "   "}, "message"), ({"message": 5}, "message"),
                       ({"message": "x" * (logic.ABSENCE_MAX + 1)}, "message"), ({"message": "a\nb"}, "message"),
                       ({"message": "a\u202eb"}, "message"), ({}, "message"), ({"message": "ok", "by": "x"}, "body")):
        with pytest.raises(logic.ApiError) as caught:
            logic.parse_absence(bad)
        assert caught.value.body()["field"] == field, bad
        assert caught.value.body()["error_de"].startswith("Die Abwesenheitsnotiz") or field == "body"
    with pytest.raises(logic.ApiError) as caught:
        logic.parse_absence(["message"])
    assert caught.value.errcode == "CK_NOT_JSON"


def test_a_set_absence_notice_stands_in_for_the_configured_one_until_removed(db: Any) -> None:
    config = logic.Config(centre_name="C", topics=[], opening_hours="Mo-Fr", absence_message="Aus tenants.yaml",
                          retention_days=30, notify_counsellors=False, service_localpart="counselkit",
                          register_per_minute=1.0, register_burst=1, openapi_path=None)
    assert db(store.absence) is None
    assert logic.centre_info(config, db(store.absence))["absence_message"] == "Aus tenants.yaml"
    db(store.set_absence, "Urlaub bis 2.1.", "@c1:s", 10)
    db(store.set_absence, "Urlaub bis 3.1.", "@c2:s", 20)  # replaced, never a second row
    assert db.conn.execute("SELECT message, set_by, set_at FROM counselkit_absence").fetchall() == \
        [("Urlaub bis 3.1.", "@c2:s", 20)]
    assert logic.centre_info(config, db(store.absence))["absence_message"] == "Urlaub bis 3.1."
    db(store.clear_absence)
    assert logic.centre_info(config, db(store.absence))["absence_message"] == "Aus tenants.yaml"
    with pytest.raises(sqlite3.IntegrityError):  # one notice per centre, by the table itself
        db.conn.execute("INSERT INTO counselkit_absence VALUES (2, 'x', '@c1:s', 1)")
