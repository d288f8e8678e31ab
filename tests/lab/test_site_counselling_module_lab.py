"""The counselling module in a real Synapse (issue 15 points 2-4, server side): registration rules, the enquiry
room, accept under concurrency, hand-over, close, deletion and the policy denials — over plain HTTP on the host
(tests/lab/counselling_probe.py), plus the nginx path. Reuses the example site (no deploy of its own).
End-to-end encrypted clients are tests/lab's E2EE suite; here "encrypted" events carry a dummy ciphertext."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from counselkit import layout, policy
from counselkit.plan import load_plan
from tests.lab.host_probe import run, run_probe

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TENANT = "awo-kiel"
PROBE = Path(__file__).with_name("counselling_probe.py")


def probe(host: Any, tenants: Path) -> dict[str, Any]:
    """Observations of the probe run on `host` against the tenant's Synapse (also used by hand on another host)."""
    tenant = load_plan(tenants).tenant(TENANT)
    names = layout.tenant_names(TENANT)
    return run_probe(host, PROBE, [names["config_dir"], str(int(tenant.synapse_port)), tenant.domain])


def via_nginx(host: Any, domain: str, path: str) -> tuple[str, str]:
    out = run(host, f"curl -sS -w '\\n%{{http_code}}' --resolve {domain}:443:127.0.0.1 "
                    f"{shlex.quote(f'https://{domain}{path}')}")
    body, _, code = out.rpartition("\n")
    return code.strip(), body


@pytest.fixture(scope="module")
def observed(example_site) -> dict[str, Any]:
    return probe(example_site["host"], example_site["tenants"])


def check(o: dict[str, Any]) -> None:
    """Every assertion on one probe's observations (shared with a manual run on another lab host)."""
    c1, c2 = o["counsellors_made"]
    # registration
    assert o["synapse_register"] in (401, 403)  # Synapse's own registration stays closed
    status, user_id, has_token, has_device = o["register"]
    assert status == 201 and user_id.startswith("@hilfe-") and has_token and has_device
    assert o["whoami"] == user_id
    for key, field in (("bad_password", "password"), ("bad_username", "username")):
        status, body = o[key]
        assert status == 400 and body["errcode"] == "CK_INVALID" and body["field"] == field
        assert body["error"] and body["error_de"]
    assert o["not_json"][0] == 400 and o["not_json"][1]["errcode"] == "CK_NOT_JSON"
    assert o["taken"][0] == 409 and o["taken"][1]["errcode"] == "CK_USERNAME_TAKEN"
    assert o["service_name_taken"][1]["errcode"] == "CK_USERNAME_TAKEN"
    assert o["rate_limit"][:policy.COUNSELLING_REGISTER_BURST] == ["CK_INVALID"] * policy.COUNSELLING_REGISTER_BURST
    assert o["rate_limit"][-1] == "CK_RATE_LIMITED"
    assert o["centre"][0] == 200 and o["centre"][1]["topics"] == policy.COUNSELLING_DEFAULTS["topics"]
    assert o["openapi"][0] == 200 and o["openapi"][1].startswith("3.1") and "/register" in o["openapi"][2]
    # policy
    assert o["hs_create_room"][0] == 403
    assert o["counsellor_create_room"] == 200
    assert o["counsellor_invites_hs"][0] == 403
    assert o["hs_joins_foreign_room"] == 403
    assert o["no_auth_enquiry"][0] == 401 and o["no_auth_enquiry"][1]["errcode"] == "CK_UNAUTHORIZED"
    assert o["counsellor_opens_enquiry"] == "CK_FORBIDDEN"
    # the enquiry room
    status, enquiry = o["enquiry"]
    assert status == 201 and {c1, c2} <= set(enquiry["counsellors"])
    assert [o[f"extra_enquiry_{n}"] for n in range(3)] == [201, 201, 201]
    assert o["second_enquiry"] == "CK_ENQUIRY_OPEN"
    assert o["hs_join"] == 200 and o["hs_send"] == 200
    assert o["hs_invites"] == 403 and o["hs_sets_name"] == 403
    assert o["m.room.encryption"] == {"algorithm": "m.megolm.v1.aes-sha2"}
    assert o["m.room.join_rules"]["join_rule"] == "invite"
    assert o["m.room.history_visibility"]["history_visibility"] == "invited"
    assert o["m.room.create"]["m.federate"] is False
    users = o["m.room.power_levels"]["users"]
    service = f"@{layout.COUNSELLING_SERVICE_LOCALPART}:{user_id.split(':', 1)[1]}"
    assert users[service] == 100 and users[c1] == users[c2] == 50 and users.get(user_id, 0) == 0
    assert o["members_before"][c1] == o["members_before"][c2] == "invite"
    assert enquiry["room_id"] in [e["room_id"] for e in o["queue_c1"]["open"]]
    # accept: exactly one winner, the other is out of the room
    outcomes = sorted(o["accept"].values())
    assert [s for s, _ in outcomes] == [200, 409] and outcomes[1][1] == "CK_ALREADY_ACCEPTED"
    winner = next(name for name, (s, _) in o["accept"].items() if s == 200)
    loser = c2 if winner == c1 else c1
    assert o["members_after_accept"].get(loser) in (None, "leave")
    assert o["hs_view"]["mine"][0]["counsellor"] == winner
    assert o["loser_close"] == "CK_FORBIDDEN"
    # hand-over to a colleague made after the room (gets the counsellor level), who closes
    colleague = o["colleague"]
    assert o["handover_to_help_seeker"] == "to"
    assert o["handover"] == [200, {"counsellor": colleague}]
    assert o["members_after_handover"][colleague] == "invite" and o["members_after_handover"][winner] == "leave"
    assert o["power_after_handover"] == 50
    assert o["close"][0] == 200
    assert o["hs_send_after_close"] == 403
    assert o["delete"] == 200 and o["token_after_delete"] == 401


def test_counselling_module_registration_policy_and_enquiry_flow(observed):
    check(observed)


def test_deleting_the_account_erases_its_key_backup(example_site, observed):
    """The web app keeps an encrypted key backup on the server; DELETE account leaves none of it in the database."""
    assert observed["backup_made"] == [200, 200]
    user_id = observed["register"][1]
    db = layout.tenant_names(TENANT)["db_name"]
    left = run(example_site["host"], f"cd / && runuser -u postgres -- psql -X -d {shlex.quote(db)} -tAc " + shlex.quote(
        "SELECT (SELECT COUNT(*) FROM e2e_room_keys WHERE user_id = '" + user_id.replace("'", "''") + "') + "
        "(SELECT COUNT(*) FROM e2e_room_keys_versions WHERE user_id = '" + user_id.replace("'", "''") + "')"))
    assert left.strip() == "0", f"{left.strip()} rows of {user_id}'s key backup left after the deletion"


def test_counselling_api_is_reached_through_nginx(example_site):
    tenant = load_plan(example_site["tenants"]).tenant(TENANT)
    code, body = via_nginx(example_site["host"], tenant.domain, "/_counselkit/v1/centre")
    assert code == "200" and json.loads(body)["name"]
