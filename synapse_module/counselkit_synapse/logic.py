"""Pure decisions of the counselling module: request validation, error texts, policy, rate limiting.

No Synapse import here: the unit tests load this file on the control machine, where Synapse is not installed.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

PREFIX = "/_counselkit/v1"
USERNAME_RE = re.compile(r"^[a-z0-9._-]{5,30}$")
POSTCODE_RE = re.compile(r"^[0-9]{5}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
PASSWORD_MIN = 12
PASSWORD_MAX = 512  # hashing is costly: an unbounded password is a cheap way to burn CPU
CONSENT_MAX = 64
TOPIC_MAX = 200
ROOM_ID_RE = re.compile(r"^![A-Za-z0-9._~=+/-]{1,255}:[A-Za-z0-9.:\[\]-]{1,255}$")
USER_ID_RE = re.compile(r"^@[a-z0-9._=/+-]{1,255}:[A-Za-z0-9.:\[\]-]{1,255}$")

# The absence notice counsellors set in the app: as long as tenants.yaml's counselling.absence_message may be.
ABSENCE_MAX = 500

# Power levels of an enquiry room (docs/counselling.md): service 100 > counsellors 50 > help-seeker 0.
SERVICE_LEVEL = 100
COUNSELLOR_LEVEL = 50
HELP_SEEKER_LEVEL = 0
ROOM_VERSION = "11"

# errcode -> (HTTP status, English, German). One table: every error the API returns comes from here.
ERRORS: dict[str, tuple[int, str, str]] = {
    "CK_INVALID": (400, "The request is invalid.", "Die Anfrage ist ungültig."),
    "CK_NOT_JSON": (400, "The request body must be a JSON object.", "Der Inhalt der Anfrage muss ein JSON-Objekt sein."),
    "CK_USERNAME_TAKEN": (409, "This user name is already taken.", "Dieser Benutzername ist bereits vergeben."),
    "CK_RATE_LIMITED": (429, "Too many requests from your address; please wait a few minutes.",
                        "Zu viele Anfragen von Ihrer Adresse; bitte warten Sie einige Minuten."),
    "CK_UNAUTHORIZED": (401, "Missing or invalid access token.", "Fehlendes oder ungültiges Zugangs-Token."),
    "CK_FORBIDDEN": (403, "You are not allowed to do this.", "Das dürfen Sie nicht."),
    "CK_NOT_FOUND": (404, "No such enquiry or endpoint.", "Diese Anfrage oder Adresse gibt es nicht."),
    "CK_ENQUIRY_OPEN": (409, "You already have an open enquiry.", "Sie haben bereits eine offene Anfrage."),
    "CK_ALREADY_ACCEPTED": (409, "Another counsellor has already accepted this enquiry.",
                            "Eine andere Beraterin oder ein anderer Berater hat diese Anfrage bereits angenommen."),
    "CK_CLOSED": (409, "This enquiry is closed.", "Diese Anfrage ist abgeschlossen."),
    "CK_NOT_ACCEPTED": (409, "This enquiry has not been accepted yet.", "Diese Anfrage wurde noch nicht angenommen."),
    "CK_METHOD": (405, "Method not allowed.", "Methode nicht erlaubt."),
    "CK_UNKNOWN": (500, "Internal error.", "Interner Fehler."),
}

# Field-specific texts (English, German) for CK_INVALID.
FIELD_ERRORS: dict[str, tuple[str, str]] = {
    "username": ("The user name must be 5 to 30 characters: a-z, 0-9, dot, underscore or hyphen. Please do not use "
                 "your real name.",
                 "Der Benutzername muss 5 bis 30 Zeichen lang sein: a-z, 0-9, Punkt, Unterstrich oder Bindestrich. "
                 "Bitte verwenden Sie nicht Ihren echten Namen."),
    "password": (f"The password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters with an upper-case and a "
                 "lower-case letter, a digit and a special character.",
                 f"Das Passwort muss {PASSWORD_MIN} bis {PASSWORD_MAX} Zeichen lang sein und einen Groß- und einen "
                 "Kleinbuchstaben, eine Ziffer und ein Sonderzeichen enthalten."),
    "email": ("The e-mail address is invalid (leave it empty if you do not want to give one).",
              "Die E-Mail-Adresse ist ungültig (lassen Sie das Feld leer, wenn Sie keine angeben möchten)."),
    "postcode": ("The postcode must be five digits.", "Die Postleitzahl muss aus fünf Ziffern bestehen."),
    "consent_version": ("Please accept the privacy notice.", "Bitte stimmen Sie der Datenschutzerklärung zu."),
    "topic": ("Please choose one of the centre's topics.", "Bitte wählen Sie eines der Themen der Beratungsstelle."),
    "to": ("Please name a counsellor of this centre.", "Bitte nennen Sie eine Beraterin oder einen Berater dieser Stelle."),
    "message": (f"The absence notice must be 1 to {ABSENCE_MAX} characters on one line.",
                f"Die Abwesenheitsnotiz muss 1 bis {ABSENCE_MAX} Zeichen lang sein und in eine Zeile passen."),
    "body": ("Unknown field in the request.", "Unbekanntes Feld in der Anfrage."),
}


class ApiError(Exception):
    """An error answer of the API: HTTP status and the JSON body of docs/api/counselling.openapi.json."""

    def __init__(self, errcode: str, field_name: str | None = None) -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.field = field_name

    @property
    def status(self) -> int:
        return ERRORS[self.errcode][0]

    def body(self) -> dict[str, Any]:
        _, english, german = ERRORS[self.errcode]
        if self.errcode == "CK_INVALID" and self.field in FIELD_ERRORS:
            english, german = FIELD_ERRORS[self.field]
        return {"errcode": self.errcode, "error": english, "error_de": german, "field": self.field}


def _control_free(value: str) -> bool:
    """No control, format (bidi) or line/paragraph separator characters: the same rule as tenants.yaml Text."""
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value)


@dataclass(frozen=True)
class Registration:
    username: str
    password: str
    email: str | None
    postcode: str | None
    consent_version: str


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError("CK_INVALID", name)
    return value


def password_ok(password: str) -> bool:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or not _control_free(password):
        return False
    return (any(c.islower() for c in password) and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password) and any(not c.isalnum() and not c.isspace() for c in password))


REGISTER_FIELDS = frozenset({"username", "password", "email", "postcode", "consent_version"})


def parse_registration(body: Any) -> Registration:
    """Validate a register request; the first bad field raises CK_INVALID naming it."""
    if not isinstance(body, dict):
        raise ApiError("CK_NOT_JSON")
    unknown = sorted(set(body) - REGISTER_FIELDS)
    if unknown:
        raise ApiError("CK_INVALID", "body")
    username = body.get("username")
    if not isinstance(username, str) or not USERNAME_RE.match(username.lower()):
        raise ApiError("CK_INVALID", "username")
    password = body.get("password")
    if not isinstance(password, str) or not password_ok(password):
        raise ApiError("CK_INVALID", "password")
    email = _optional_str(body, "email")
    if email is not None and (len(email) > 254 or not EMAIL_RE.match(email)):
        raise ApiError("CK_INVALID", "email")
    postcode = _optional_str(body, "postcode")
    if postcode is not None and not POSTCODE_RE.match(postcode):
        raise ApiError("CK_INVALID", "postcode")
    consent = body.get("consent_version")
    if not isinstance(consent, str) or not 1 <= len(consent) <= CONSENT_MAX or not _control_free(consent) \
            or consent.strip() != consent:
        raise ApiError("CK_INVALID", "consent_version")
    return Registration(username.lower(), password, email, postcode, consent)


def parse_topic(body: Any, topics: list[str]) -> str | None:
    """The topic of a new enquiry: null, or one of the centre's topics (never free text: it reaches counsellors)."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ApiError("CK_NOT_JSON")
    if set(body) - {"topic"}:
        raise ApiError("CK_INVALID", "body")
    topic = body.get("topic")
    if topic is None:
        return None
    if not isinstance(topic, str) or topic not in topics:
        raise ApiError("CK_INVALID", "topic")
    return topic


def parse_handover(body: Any, server_name: str) -> str:
    if not isinstance(body, dict):
        raise ApiError("CK_NOT_JSON")
    if set(body) - {"to"}:
        raise ApiError("CK_INVALID", "body")
    target = body.get("to")
    if not isinstance(target, str) or not USER_ID_RE.match(target) or not target.endswith(":" + server_name):
        raise ApiError("CK_INVALID", "to")
    return target


def parse_absence(body: Any) -> str:
    """The absence notice a counsellor sets ({"message": ...}): one line of plain text, shown to help-seekers."""
    if not isinstance(body, dict):
        raise ApiError("CK_NOT_JSON")
    if set(body) - {"message"}:
        raise ApiError("CK_INVALID", "body")
    message = body.get("message")
    if not isinstance(message, str) or not _control_free(message):
        raise ApiError("CK_INVALID", "message")
    message = message.strip()
    if not 1 <= len(message) <= ABSENCE_MAX:
        raise ApiError("CK_INVALID", "message")
    return message


def check_room_id(room_id: str) -> str:
    if not ROOM_ID_RE.match(room_id):
        raise ApiError("CK_NOT_FOUND")
    return room_id


def enquiry_room_config(service: str, help_seeker: str, counsellors: list[str], topic: str | None,
                        centre: str) -> dict[str, Any]:
    """The /createRoom body of an enquiry (docs/counselling.md): encrypted from the first event, invite-only, history for members
    only, no federation, power levels service > counsellors > help-seeker; everybody invited at creation so that
    their devices are members before the first (encrypted) message."""
    users = {service: SERVICE_LEVEL, help_seeker: HELP_SEEKER_LEVEL}
    users.update({c: COUNSELLOR_LEVEL for c in counsellors})
    return {
        # Pinned: from room version 12 on, creators hold unlimited power and may not be listed in "users".
        "room_version": ROOM_VERSION,
        "preset": "private_chat",
        "visibility": "private",
        "name": f"{centre}: {topic}" if topic else centre,
        "creation_content": {"m.federate": False},
        "invite": [help_seeker, *counsellors],
        "is_direct": False,
        "initial_state": [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "invite"}},
            {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "invited"}},
            {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}},
        ],
        "power_level_content_override": {
            "users": users,
            "users_default": HELP_SEEKER_LEVEL,
            "events_default": HELP_SEEKER_LEVEL,
            "state_default": COUNSELLOR_LEVEL,
            "invite": SERVICE_LEVEL,  # only the service invites: hand-over goes through the API
            "kick": COUNSELLOR_LEVEL,
            "ban": SERVICE_LEVEL,
            "redact": COUNSELLOR_LEVEL,
            "events": {
                "m.room.power_levels": SERVICE_LEVEL,
                "m.room.encryption": SERVICE_LEVEL,
                "m.room.join_rules": SERVICE_LEVEL,
                "m.room.history_visibility": SERVICE_LEVEL,
                "m.room.server_acl": SERVICE_LEVEL,
                "m.room.tombstone": SERVICE_LEVEL,
                "m.room.name": SERVICE_LEVEL,
                "m.room.topic": SERVICE_LEVEL,
                "m.room.avatar": SERVICE_LEVEL,
                "m.room.canonical_alias": SERVICE_LEVEL,
            },
        },
    }


# --- policy (spam-checker callbacks): each function answers "allowed?" from facts the module looked up --------

@dataclass(frozen=True)
class Facts:
    """What the policy needs to know about the acting user and the room."""

    service: str
    actor_is_help_seeker: bool
    room_enquiry_of: str | None = None  # help-seeker of the enquiry that this room is, if it is one
    room_closed: bool = False


def may_create_room(user: str, facts: Facts) -> bool:
    return not facts.actor_is_help_seeker


def may_invite(inviter: str, invitee_is_help_seeker: bool, facts: Facts) -> bool:
    """Help-seekers invite nobody; only the service invites help-seekers (into their own enquiry)."""
    if inviter == facts.service:
        return True
    if facts.actor_is_help_seeker:
        return False
    return not invitee_is_help_seeker


def may_join(user: str, is_invited: bool, facts: Facts) -> bool:
    """A help-seeker joins only the enquiry room made for them, and only on the service's invitation."""
    if not facts.actor_is_help_seeker:
        return True
    return is_invited and facts.room_enquiry_of == user and not facts.room_closed


def may_send(sender: str, event_type: str, is_state: bool, membership: str | None, facts: Facts) -> bool:
    """Help-seekers speak only in their own open enquiry; leaving is always allowed (and joining is checked by
    may_join). Others are not restricted here (power levels apply)."""
    if not facts.actor_is_help_seeker:
        return True
    if event_type == "m.room.member":
        if membership == "leave":
            return True
        return membership == "join" and facts.room_enquiry_of == sender and not facts.room_closed
    if facts.room_enquiry_of != sender or facts.room_closed:
        return False
    return not is_state


# --- rate limit (per client address, in memory: a limit per process is what it protects) ----------------------

@dataclass
class RateLimiter:
    """Token bucket per key: `burst` requests at once, refilled at `per_minute`."""

    per_minute: float
    burst: int
    clock: Any = time.monotonic
    max_keys: int = 10000  # bounded memory under a flood of addresses
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: they carry no information."""
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.per_minute / 60.0 >= self.burst:
                del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            self._buckets.pop(next(iter(self._buckets)))


# --- retention purge (docs/counselling.md#retention-purge) -------------------------------------------------------

DAY_MS = 24 * 60 * 60 * 1000
PURGE_INTERVAL_DEFAULT = 24 * 60 * 60  # seconds: the job runs daily
PURGE_FIRST_DELAY_MS = 60 * 1000  # and once a minute after start: a Synapse restarted daily would never reach a day
PURGE_BATCH = 100  # help-seekers per run: bounded work in one go, the rest follows on the next run
ACTIVITY_WRITE_INTERVAL_MS = 60 * 60 * 1000  # one database write per help-seeker and hour at most


def purge_cutoff(now_ms: int, retention_days: int) -> int:
    """Help-seekers whose last activity is before this instant are purged."""
    return now_ms - retention_days * DAY_MS


def shutdown_params(service: str) -> dict[str, Any]:
    """Synapse's ShutdownRoomParams as the admin API DELETE /_synapse/admin/v2/rooms/<room> {"purge": true} sends
    them: no replacement room, no block list entry (the room ID is random and never reused), purge even with
    members left (the service and a counsellor may still be joined)."""
    return {"requester_user_id": service, "new_room_user_id": None, "new_room_name": None, "message": None,
            "block": False, "purge": True, "force_purge": True}


@dataclass
class ActivityThrottle:
    """Whether to write a help-seeker's activity now: at most once per `interval_ms` per user, so that a message
    costs no database write on top of the policy's reads. Memory is bounded like RateLimiter's."""

    interval_ms: int = ACTIVITY_WRITE_INTERVAL_MS
    max_keys: int = 10000
    _written: dict[str, int] = field(default_factory=dict)

    def due(self, user_id: str, now_ms: int) -> bool:
        last = self._written.get(user_id)
        if last is not None and now_ms - last < self.interval_ms:
            return False
        if user_id not in self._written and len(self._written) >= self.max_keys:
            self._written = {k: v for k, v in self._written.items() if now_ms - v < self.interval_ms}
            if len(self._written) >= self.max_keys:
                self._written.pop(next(iter(self._written)))
        self._written[user_id] = now_ms
        return True

    def forget(self, user_id: str) -> None:
        """The write failed: the next activity writes again."""
        self._written.pop(user_id, None)


# --- module config ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    centre_name: str
    topics: list[str]
    opening_hours: str
    absence_message: str | None
    retention_days: int
    notify_counsellors: bool
    service_localpart: str
    register_per_minute: float
    register_burst: int
    openapi_path: str | None
    purge_interval_seconds: int = PURGE_INTERVAL_DEFAULT
    seats: int | None = None  # licensed counsellor accounts (tenants.yaml seats); None: no limit (unit tests)
    admin_emails: tuple[str, ...] = ()  # the centre's admins, told when a counsellor is refused for lack of seats
    operator_prefixes: tuple[str, ...] = ()  # localparts of the operator's short-lived accounts: not counsellors


def parse_config(raw: Any) -> Config:
    """The `modules: - config:` block of homeserver.yaml (written by counselkit); a clear error if it is broken."""
    if not isinstance(raw, dict):
        raise ValueError("counselkit_synapse: config must be a mapping")

    def text(name: str, optional: bool = False) -> Any:
        value = raw.get(name)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not _control_free(value):
            raise ValueError(f"counselkit_synapse: config.{name} must be a single-line string")
        return value

    topics = raw.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) and _control_free(t) for t in topics):
        raise ValueError("counselkit_synapse: config.topics must be a list of single-line strings")
    retention = raw.get("retention_days")
    if not isinstance(retention, int) or isinstance(retention, bool) or retention < 1:
        raise ValueError("counselkit_synapse: config.retention_days must be a positive integer")
    notify = raw.get("notify_counsellors")
    if not isinstance(notify, bool):
        raise ValueError("counselkit_synapse: config.notify_counsellors must be true or false")
    rate, burst = raw.get("register_per_minute"), raw.get("register_burst")
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate <= 0 \
            or not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
        raise ValueError("counselkit_synapse: config.register_per_minute/register_burst must be positive numbers")
    interval = raw.get("purge_interval_seconds", PURGE_INTERVAL_DEFAULT)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        raise ValueError("counselkit_synapse: config.purge_interval_seconds must be a positive integer")
    seats = raw.get("seats")
    if seats is not None and (not isinstance(seats, int) or isinstance(seats, bool) or seats < 1):
        raise ValueError("counselkit_synapse: config.seats must be a positive integer")
    admins, prefixes = raw.get("admin_emails", []), raw.get("operator_prefixes", [])
    for name, values in (("admin_emails", admins), ("operator_prefixes", prefixes)):
        if not isinstance(values, list) or not all(isinstance(v, str) and v and _control_free(v) for v in values):
            raise ValueError(f"counselkit_synapse: config.{name} must be a list of single-line strings")
    localpart = text("service_localpart")
    if not re.match(r"^[a-z0-9._-]{1,30}$", localpart):
        raise ValueError("counselkit_synapse: config.service_localpart is not a valid localpart")
    return Config(centre_name=text("centre_name"), topics=list(topics), opening_hours=text("opening_hours"),
                  absence_message=text("absence_message", optional=True), retention_days=retention,
                  notify_counsellors=notify, service_localpart=localpart, register_per_minute=float(rate),
                  register_burst=burst, openapi_path=text("openapi_path", optional=True),
                  purge_interval_seconds=interval, seats=seats, admin_emails=tuple(admins),
                  operator_prefixes=tuple(prefixes))


def takes_a_seat(localpart: str | None, config: Config, is_help_seeker: bool) -> bool:
    """Whether a new account is a counsellor, so needs a free seat: not the service, not a help-seeker (the module
    records those before it registers them), not one of the operator's short-lived accounts."""
    if is_help_seeker or localpart == config.service_localpart:
        return False
    return not (localpart or "").startswith(config.operator_prefixes)


def seat_free(config: Config, counsellors: int) -> bool:
    return config.seats is None or counsellors < config.seats


def centre_info(config: Config, absence: str | None = None) -> dict[str, Any]:
    """What the centre shows help-seekers. `absence`: the notice a counsellor set in the app, which stands in for
    tenants.yaml's absence_message until it is removed again."""
    return {"name": config.centre_name, "topics": list(config.topics), "opening_hours": config.opening_hours,
            "absence_message": absence if absence is not None else config.absence_message}


# --- routing -----------------------------------------------------------------------------------------------

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "register"): "register",
    ("GET", "centre"): "centre",
    ("GET", "openapi.json"): "openapi",
    ("POST", "enquiries"): "create_enquiry",
    ("GET", "enquiries"): "list_enquiries",
    ("DELETE", "account"): "delete_account",
    ("PUT", "centre/absence"): "set_absence",
    ("DELETE", "centre/absence"): "clear_absence",
}
ROOM_ROUTES = {("POST", "accept"): "accept", ("POST", "handover"): "handover", ("POST", "close"): "close"}


def route(prefix: str, method: str, path: str) -> tuple[str, str | None] | None:
    """(handler name, room ID or None) for a path below prefix; None if there is no such endpoint."""
    if not path.startswith(prefix + "/"):
        return None
    parts = [unquote(p) for p in path[len(prefix) + 1:].split("/")]
    # a fixed path of one or more segments (an encoded "/" inside a segment is no separator)
    if all("/" not in part for part in parts) and (method, "/".join(parts)) in ROUTES:
        return ROUTES[(method, "/".join(parts))], None
    if len(parts) == 3 and parts[0] == "enquiries" and (method, parts[2]) in ROOM_ROUTES:
        return ROOM_ROUTES[(method, parts[2])], parts[1]
    return None


def known_path(prefix: str, path: str) -> bool:
    """Whether some method serves this path (then a wrong method is CK_METHOD, not CK_NOT_FOUND)."""
    methods = {method for method, _ in (*ROUTES, *ROOM_ROUTES)}
    return any(route(prefix, method, path) is not None for method in methods)
