"""The retention purge of the counselling module in a real Synapse on PostgreSQL (issue 15 points 7 and 8: "retention
purge with a moved clock"): tests/lab/counselling_purge_probe.py moves a help-seeker's activity back in the tenant's
database, restarts the tenant's Synapse (the module purges a minute after start) and reads the database before and
after. Reuses the example site (no deploy of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from counselkit import layout
from counselkit.plan import load_plan
from tests.lab.host_probe import run_probe

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TENANT = "awo-kiel"
PROBE = Path(__file__).with_name("counselling_purge_probe.py")


def probe(host: Any, tenants: Path) -> dict[str, Any]:
    tenant = load_plan(tenants).tenant(TENANT)
    names = layout.tenant_names(TENANT)
    argv = [names["config_dir"], str(int(tenant.synapse_port)), tenant.domain, names["db_name"], names["unit"]]
    return run_probe(host, PROBE, argv, timeout=900)


def check(o: dict[str, Any]) -> None:
    before, after = o["before"], o["after"]
    assert o["joined"] == 200 and o["sent"] == 200
    # before: the room and the help-seeker's data are there (so "gone" below is not vacuous)
    assert before["events"] > 0 and before["rooms"] == 1 and before["marker"] == 1 and before["enquiries"] == 1
    assert before["activity"] == 1 and before["deactivated"] == [0]
    assert before["help_seeker"] == [["24103", "probe@example.org", "2026-12"]]
    # after: the room is gone from the database, not only hidden
    for table in ("events", "event_json", "rooms", "memberships", "current_state", "marker"):
        assert after[table] == 0, table
    # the account is deactivated with erasure; the help-seeker row keeps only ID, time and consent version
    assert after["deactivated"] == [1] and after["erased"] == 1 and o["token_after"] == 401
    assert after["enquiries"] == 0 and after["activity"] == 0
    assert after["help_seeker"] == [[None, None, "2026-12"]]


def test_retention_purge_removes_an_idle_help_seeker_and_their_rooms(example_site):
    check(probe(example_site["host"], example_site["tenants"]))
