"""The counselling module inside a tenant's Synapse: the /_counselkit/v1 API and the server-side policy.

Public ModuleApi methods are used wherever one exists. Two steps have none and use the homeserver's handlers, which
is safe only because the Synapse release is pinned (requirements/synapse-<version>.txt) and the lab tests run
against it: a password hash for the new account (registration handler's `password_hash`), the GDPR-erasing
deactivation (deactivate-account handler), the service account's rate-limit exemption (the store method behind the
admin API's override_ratelimit) and the retention purge's room shutdown and purge (the room-shutdown and pagination
handlers, as the admin API DELETE /_synapse/admin/v2/rooms/<room> with "purge" runs them).
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any

from synapse.api.errors import Codes, SynapseError
from synapse.module_api import NOT_SPAM, DirectServeJsonResource, ModuleApi
from synapse.types import create_requester

from . import logic, notices, store
from .logic import ApiError

logger = logging.getLogger(__name__)

PREFIX = logic.PREFIX
MAX_BODY = 64 * 1024
OPENAPI_FILE = Path(__file__).with_name("openapi.json")


class CounsellingModule:
    def __init__(self, config: logic.Config, api: ModuleApi) -> None:
        self.config = config
        self.api = api
        self.server_name = api.server_name
        self.service = f"@{config.service_localpart}:{self.server_name}"
        self.limiter = logic.RateLimiter(config.register_per_minute, config.register_burst)
        self._ready = False
        self.activity = logic.ActivityThrottle()
        api.register_web_resource(PREFIX, CounsellingResource(self))
        api.register_spam_checker_callbacks(
            user_may_create_room=self.user_may_create_room,
            user_may_invite=self.user_may_invite,
            user_may_join_room=self.user_may_join_room,
            user_may_send_3pid_invite=self.user_may_send_3pid_invite,
            user_may_create_room_alias=self.user_may_create_room_alias,
            user_may_publish_room=self.user_may_publish_room,
            check_event_for_spam=self.check_event_for_spam,
            check_registration_for_spam=self.check_registration_for_spam,
        )
        # The service account exists before the first request: no help-seeker can take its name.
        api.delayed_background_call(0, self.ensure_ready, desc="counselkit_startup")
        # Retention purge: daily, and once a few minutes after start (a daily restart would otherwise starve it).
        # Both run only on the instance that runs background tasks (the main process).
        api.looping_background_call(self.purge_inactive, config.purge_interval_seconds * 1000,
                                    desc="counselkit_retention_purge")
        api.delayed_background_call(logic.PURGE_FIRST_DELAY_MS, self.purge_inactive,
                                    desc="counselkit_retention_purge_first")

    @staticmethod
    def parse_config(config: Any) -> logic.Config:
        try:
            return logic.parse_config(config)
        except ValueError as error:
            from synapse.config import ConfigError
            raise ConfigError(str(error)) from None

    # --- set-up --------------------------------------------------------------------------------------------

    async def ensure_ready(self) -> None:
        if self._ready:
            return
        await self.db("counselkit_schema", store.create_schema)
        if await self.api.check_user_exists(self.service) is None:
            try:
                # No password and no device: the service holds no room keys, so it can read no message.
                await self.api.register_user(self.config.service_localpart, displayname=self.config.centre_name)
            except SynapseError as error:
                if error.errcode != Codes.USER_IN_USE:
                    raise
        # The service invites the help-seeker and every counsellor into each enquiry and removes the others on
        # accept: Synapse's limits for people (rc_invites: a handful per minute; rc_message for each membership
        # event) refused a centre with more counsellors than the burst. Only the service is exempt — what the
        # admin API's override_ratelimit writes (a zero rate in ratelimit_override: every limiter skips it); its
        # actions stay bounded by the help-seekers' and counsellors' own limits.
        await self.api._hs.get_datastores().main.set_ratelimit_for_user(self.service, 0, 0)
        self._ready = True

    async def db(self, desc: str, func: Any, *args: Any) -> Any:
        return await self.api.run_db_interaction(desc, func, *args)

    def now(self) -> int:
        return self.api.get_current_time_msec()

    async def is_help_seeker(self, user_id: str) -> bool:
        await self.ensure_ready()
        return await self.db("counselkit_is_help_seeker", store.is_help_seeker, user_id)

    async def touch(self, user_id: str) -> None:
        """Record a help-seeker's activity for the retention purge (throttled: docs/counselling.md#retention-purge)."""
        now = self.now()
        if not self.activity.due(user_id, now):
            return
        try:
            await self.db("counselkit_touch", store.touch_activity, user_id, now)
        except Exception:
            # A lost record only delays the purge (the next event writes again); it must not refuse the message.
            logger.exception("counselkit: recording activity of %s failed", user_id)
            self.activity.forget(user_id)

    async def facts(self, user_id: str, room_id: str | None = None) -> logic.Facts:
        help_seeker = await self.is_help_seeker(user_id)  # first: it makes sure the tables exist
        enquiry = await self.db("counselkit_enquiry", store.enquiry_by_room, room_id) if room_id else None
        return logic.Facts(service=self.service, actor_is_help_seeker=help_seeker,
                           room_enquiry_of=enquiry["help_seeker"] if enquiry else None,
                           room_closed=bool(enquiry and enquiry["closed_at"] is not None))

    # --- policy (spam-checker callbacks) -------------------------------------------------------------------

    @staticmethod
    def _verdict(allowed: bool) -> Any:
        return NOT_SPAM if allowed else Codes.FORBIDDEN

    async def user_may_create_room(self, user_id: str, room_config: Any = None) -> Any:
        return self._verdict(logic.may_create_room(user_id, await self.facts(user_id)))

    async def user_may_invite(self, inviter: str, invitee: str, room_id: str) -> Any:
        facts = await self.facts(inviter)
        return self._verdict(logic.may_invite(inviter, await self.is_help_seeker(invitee), facts))

    async def user_may_join_room(self, user_id: str, room_id: str, is_invited: bool) -> Any:
        return self._verdict(logic.may_join(user_id, is_invited, await self.facts(user_id, room_id)))

    async def user_may_send_3pid_invite(self, inviter: str, medium: str, address: str, room_id: str) -> Any:
        return self._verdict(not await self.is_help_seeker(inviter))

    async def user_may_create_room_alias(self, user_id: str, alias: Any) -> Any:
        return self._verdict(not await self.is_help_seeker(user_id))

    async def user_may_publish_room(self, user_id: str, room_id: str) -> Any:
        return self._verdict(not await self.is_help_seeker(user_id))

    async def check_event_for_spam(self, event: Any) -> Any:
        if not self.api.is_mine(event.sender):
            return NOT_SPAM
        facts = await self.facts(event.sender, event.room_id)
        if facts.actor_is_help_seeker:
            await self.touch(event.sender)
        membership = event.content.get("membership") if event.type == "m.room.member" else None
        return self._verdict(logic.may_send(event.sender, event.type, event.is_state(), membership, facts))

    async def check_registration_for_spam(self, email_threepid: Any, username: str | None, request_info: Any,
                                          auth_provider_id: str | None = None) -> Any:
        """Seats (issue 15 point 6): a new counsellor account — an SSO login's first one, or `counselkit counsellor
        add` — is refused once the tenant's licensed seats are taken, and the centre's admins get a notice. Synapse
        answers the refused request with 429; the login page says "Rate limited" (docs/counselling.md#seats)."""
        from synapse.spam_checker_api import RegistrationBehaviour

        # The service is decided before any database read: ensure_ready registers it, and would wait on itself.
        if not logic.takes_a_seat(username, self.config, is_help_seeker=False):
            return RegistrationBehaviour.ALLOW
        if username and await self.is_help_seeker(f"@{username}:{self.server_name}"):
            return RegistrationBehaviour.ALLOW
        taken = len(await self.counsellor_ids())
        if logic.seat_free(self.config, taken):
            return RegistrationBehaviour.ALLOW
        logger.warning("counselkit: counsellor account %s refused: all %s seats are taken", username, self.config.seats)
        self.api.run_as_background_process("counselkit_notify_seats_taken", notices.notify_admins_seats_taken,
                                           self.config.admin_emails, self.config.centre_name, self.config.seats,
                                           username or "", self.api.send_mail)
        return RegistrationBehaviour.DENY

    async def counsellor_ids(self) -> list[str]:
        await self.ensure_ready()
        return await self.db("counselkit_counsellors", store.counsellors, self.server_name, self.service,
                             self.config.operator_prefixes)

    # --- API -----------------------------------------------------------------------------------------------

    async def requester(self, request: Any) -> str:
        try:
            requester = await self.api.get_user_by_req(request)
        except SynapseError:
            raise ApiError("CK_UNAUTHORIZED") from None
        return requester.user.to_string()

    async def counsellor(self, request: Any) -> str:
        user = await self.requester(request)
        if user == self.service or await self.is_help_seeker(user):
            raise ApiError("CK_FORBIDDEN")
        return user

    async def register(self, request: Any, body: Any) -> tuple[int, Any]:
        address = request.getClientAddress().host
        if not self.limiter.allow(str(address)):
            raise ApiError("CK_RATE_LIMITED")
        reg = logic.parse_registration(body)
        await self.ensure_ready()
        if reg.username == self.config.service_localpart:
            raise ApiError("CK_USERNAME_TAKEN")
        try:
            await self.api.check_username(reg.username)
        except SynapseError as error:
            raise ApiError("CK_USERNAME_TAKEN" if error.errcode == Codes.USER_IN_USE else "CK_INVALID",
                           None if error.errcode == Codes.USER_IN_USE else "username") from None
        user_id = f"@{reg.username}:{self.server_name}"
        if not await self.db("counselkit_claim", store.claim_help_seeker, user_id, self.now(), reg.consent_version,
                             reg.postcode, reg.email):
            raise ApiError("CK_USERNAME_TAKEN")
        try:
            password_hash = await self.api._hs.get_auth_handler().hash(reg.password)
            await self.api._hs.get_registration_handler().register_user(localpart=reg.username,
                                                                        password_hash=password_hash)
        except SynapseError as error:
            await self.db("counselkit_unclaim", store.drop_help_seeker, user_id)
            if error.errcode == Codes.USER_IN_USE:
                raise ApiError("CK_USERNAME_TAKEN") from None
            raise
        device_id, access_token, _, _ = await self.api.register_device(user_id)
        return 201, {"user_id": user_id, "access_token": access_token, "device_id": device_id}

    async def centre_answer(self) -> dict[str, Any]:
        await self.ensure_ready()
        return logic.centre_info(self.config, await self.db("counselkit_absence", store.absence))

    async def centre(self, request: Any, body: Any) -> tuple[int, Any]:
        return 200, await self.centre_answer()

    async def set_absence(self, request: Any, body: Any) -> tuple[int, Any]:
        """A counsellor's absence notice for the whole centre (holidays, a closed day), shown to help-seekers."""
        user = await self.counsellor(request)
        message = logic.parse_absence(body)
        await self.db("counselkit_set_absence", store.set_absence, message, user, self.now())
        return 200, await self.centre_answer()

    async def clear_absence(self, request: Any, body: Any) -> tuple[int, Any]:
        await self.counsellor(request)
        await self.db("counselkit_clear_absence", store.clear_absence)
        return 200, await self.centre_answer()

    async def openapi(self, request: Any, body: Any) -> tuple[int, Any]:
        path = Path(self.config.openapi_path) if self.config.openapi_path else OPENAPI_FILE
        return 200, json.loads(path.read_text(encoding="utf-8"))

    async def create_enquiry(self, request: Any, body: Any) -> tuple[int, Any]:
        user = await self.requester(request)
        if not await self.is_help_seeker(user):
            raise ApiError("CK_FORBIDDEN")
        topic = logic.parse_topic(body, self.config.topics)
        await self.touch(user)
        enquiry_id = secrets.token_hex(16)
        if not await self.db("counselkit_reserve", store.reserve_enquiry, enquiry_id, user, topic, self.now()):
            raise ApiError("CK_ENQUIRY_OPEN")
        try:
            counsellors = await self.counsellor_ids()
            room_config = logic.enquiry_room_config(self.service, user, counsellors, topic, self.config.centre_name)
            room_id, _ = await self.api.create_room(self.service, room_config, ratelimit=False)
            await self.db("counselkit_set_room", store.set_room, enquiry_id, room_id)
        except BaseException:
            await self.db("counselkit_drop_reservation", store.drop_reservation, enquiry_id)
            raise
        if self.config.notify_counsellors:  # content-free mail, in the background: the relay must not delay the reply
            self.api.run_as_background_process("counselkit_notify_counsellors", notices.notify_counsellors, counsellors,
                                               self.config.centre_name, self.api.get_threepids_for_user,
                                               self.api.send_mail)
        return 201, {"room_id": room_id, "counsellors": counsellors}

    @staticmethod
    def _entry(row: dict[str, Any], with_counsellor: bool = False) -> dict[str, Any]:
        entry = {"room_id": row["room_id"], "created_at": row["created_at"], "topic": row["topic"]}
        if with_counsellor:
            entry.update(counsellor=row["counsellor"], closed=row["closed_at"] is not None)
        return entry

    async def list_enquiries(self, request: Any, body: Any) -> tuple[int, Any]:
        user = await self.requester(request)
        if await self.is_help_seeker(user):
            await self.touch(user)
            rows = await self.db("counselkit_mine", store.enquiries_of_help_seeker, user)
            return 200, {"open": [], "mine": [self._entry(r, with_counsellor=True) for r in rows]}
        if user == self.service:
            raise ApiError("CK_FORBIDDEN")
        open_rows = await self.db("counselkit_open", store.open_enquiries)
        mine = await self.db("counselkit_assigned", store.enquiries_of_counsellor, user)
        return 200, {"open": [self._entry(r) for r in open_rows], "mine": [self._entry(r) for r in mine]}

    async def enquiry(self, room_id: str) -> dict[str, Any]:
        row = await self.db("counselkit_enquiry", store.enquiry_by_room, logic.check_room_id(room_id))
        if row is None:
            raise ApiError("CK_NOT_FOUND")
        return row

    async def members(self, room_id: str) -> dict[str, str]:
        state = await self.api.get_room_state(room_id, [("m.room.member", None)])
        return {key[1]: event.content.get("membership") for key, event in state.items()}

    async def remove(self, room_id: str, user_id: str) -> None:
        """Kick (or withdraw the invitation of) one member, as the service."""
        await self.api.update_room_membership(self.service, user_id, room_id, "leave")

    async def accept(self, request: Any, body: Any, room_id: str) -> tuple[int, Any]:
        user = await self.counsellor(request)
        row = await self.enquiry(room_id)
        if row["closed_at"] is not None:
            raise ApiError("CK_CLOSED")
        if not await self.db("counselkit_accept", store.accept, room_id, user, self.now()):
            row = await self.enquiry(room_id)
            if row["counsellor"] != user:
                raise ApiError("CK_CLOSED" if row["closed_at"] is not None else "CK_ALREADY_ACCEPTED")
            return 200, {"counsellor": user}  # the same counsellor again: nothing more to do
        keep = {self.service, row["help_seeker"], user}
        for member, membership in (await self.members(room_id)).items():
            if member not in keep and membership in ("join", "invite"):
                await self.remove(room_id, member)
        return 200, {"counsellor": user}

    async def handover(self, request: Any, body: Any, room_id: str) -> tuple[int, Any]:
        user = await self.counsellor(request)
        target = logic.parse_handover(body, self.server_name)
        row = await self.enquiry(room_id)
        if row["closed_at"] is not None:
            raise ApiError("CK_CLOSED")
        if row["counsellor"] != user:
            raise ApiError("CK_FORBIDDEN" if row["counsellor"] else "CK_NOT_ACCEPTED")
        colleagues = await self.counsellor_ids()
        if target == user or target not in colleagues:
            raise ApiError("CK_INVALID", "to")
        if not await self.db("counselkit_handover", store.hand_over, room_id, user, target):
            raise ApiError("CK_ALREADY_ACCEPTED")
        await self.give_power(room_id, target)
        if (await self.members(room_id)).get(target) not in ("join", "invite"):
            await self.api.update_room_membership(self.service, target, room_id, "invite")
        await self.remove(room_id, user)
        return 200, {"counsellor": target}

    async def give_power(self, room_id: str, user_id: str) -> None:
        """A colleague who became a counsellor after the room was made has no counsellor level in it yet."""
        state = await self.api.get_room_state(room_id, [("m.room.power_levels", "")])
        event = state.get(("m.room.power_levels", ""))
        # Event content is frozen (nested immutable mappings): a plain, mutable copy.
        content = json.loads(json.dumps(event.content, default=dict)) if event else {}
        users = content.setdefault("users", {})
        if users.get(user_id) == logic.COUNSELLOR_LEVEL:
            return
        users[user_id] = logic.COUNSELLOR_LEVEL
        await self.api.create_and_send_event_into_room({"type": "m.room.power_levels", "room_id": room_id,
                                                         "sender": self.service, "state_key": "", "content": content})

    async def close(self, request: Any, body: Any, room_id: str) -> tuple[int, Any]:
        user = await self.counsellor(request)
        row = await self.enquiry(room_id)
        if row["closed_at"] is not None:
            raise ApiError("CK_CLOSED")
        if row["counsellor"] != user:
            raise ApiError("CK_FORBIDDEN" if row["counsellor"] else "CK_NOT_ACCEPTED")
        if not await self.db("counselkit_close", store.close, room_id, user, self.now()):
            raise ApiError("CK_CLOSED")
        return 200, {"closed": True}

    async def delete_account(self, request: Any, body: Any) -> tuple[int, Any]:
        user = await self.requester(request)
        if not await self.is_help_seeker(user):
            raise ApiError("CK_FORBIDDEN")
        # The rooms stay for the counsellor until the retention purge: retention_days from the deletion on.
        await self.db("counselkit_touch", store.touch_activity, user, self.now())
        await self.erase_account(user, create_requester(user), by_admin=False)
        return 200, {"deleted": True}

    async def erase_account(self, user_id: str, requester: Any, by_admin: bool) -> None:
        """Deactivation with GDPR erasure (docs/data-protection.md): DELETE account and the retention purge."""
        await self.db("counselkit_erase", store.remove_help_seeker, user_id, self.now())
        await self.api._hs.get_deactivate_account_handler().deactivate_account(
            user_id, erase_data=True, requester=requester, by_admin=by_admin)

    # --- retention purge (docs/counselling.md#retention-purge) -------------------------------------------------

    async def purge_inactive(self) -> list[str]:
        """One run of the purge: every help-seeker idle longer than retention_days (up to PURGE_BATCH). A failure
        of one is logged and retried on the next run; it does not stop the others."""
        await self.ensure_ready()
        cutoff = logic.purge_cutoff(self.now(), self.config.retention_days)
        candidates = await self.db("counselkit_purge_candidates", store.purge_candidates, cutoff, logic.PURGE_BATCH)
        purged = []
        for user_id, active in candidates:
            try:
                await self.purge_help_seeker(user_id, active)
                purged.append(user_id)
            except Exception:
                logger.exception("counselkit: retention purge of %s failed", user_id)
        if candidates:
            logger.info("counselkit: retention purge removed %d of %d help-seekers", len(purged), len(candidates))
        return purged

    async def purge_help_seeker(self, user_id: str, active: bool) -> None:
        """Deactivate with erasure, then remove every enquiry room from the database, then the enquiry rows: in
        this order each step can be repeated after a crash (purge_candidates finds the help-seeker again)."""
        if active:
            await self.erase_account(user_id, create_requester(self.service), by_admin=True)
        for room_id in await self.db("counselkit_purge_rooms", store.rooms_of_help_seeker, user_id):
            await self.purge_room(room_id)
        await self.db("counselkit_purge_rows", store.drop_purged, user_id)

    async def purge_room(self, room_id: str) -> None:
        """What DELETE /_synapse/admin/v2/rooms/<room> {"purge": true} does, but awaited here instead of queued as a
        scheduled task: the members are removed, then every trace of the room leaves the database. A room purged
        already is unknown to shutdown_room and a no-op for purge_room."""
        params: Any = logic.shutdown_params(self.service)
        await self.api._hs.get_room_shutdown_handler().shutdown_room(room_id, params)
        await self.api._hs.get_pagination_handler().purge_room(room_id, force=params["force_purge"])


class CounsellingResource(DirectServeJsonResource):
    isLeaf = True

    def __init__(self, module: CounsellingModule) -> None:
        super().__init__()
        self.module = module

    async def _async_render(self, request: Any) -> tuple[int, Any]:
        try:
            return await self._dispatch(request)
        except ApiError as error:
            return error.status, error.body()
        except Exception:
            # Every answer keeps the API's error shape; the details go to Synapse's log, not to the client.
            logger.exception("counselkit: %s %s failed", request.method, request.path[:200])
            return 500, ApiError("CK_UNKNOWN").body()

    async def _dispatch(self, request: Any) -> tuple[int, Any]:
        method = request.method.decode("ascii")
        method = "GET" if method == "HEAD" else method
        path = request.path.decode("utf-8", "replace")
        found = logic.route(PREFIX, method, path)
        if found is None:
            raise ApiError("CK_METHOD" if logic.known_path(PREFIX, path) else "CK_NOT_FOUND")
        name, room_id = found
        body = None
        if method in ("POST", "PUT"):
            raw = request.content.read(MAX_BODY + 1) if request.content else b""
            if len(raw) > MAX_BODY:
                raise ApiError("CK_INVALID", "body")
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise ApiError("CK_NOT_JSON") from None
        handler = getattr(self.module, name)
        return await (handler(request, body, room_id) if room_id is not None else handler(request, body))
