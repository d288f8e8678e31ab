"""The counsellor notice about a new enquiry: the centre's name and nothing else that could identify or quote."""

from __future__ import annotations

import ast
import asyncio
import sys

import pytest

from counselkit import layout
from tests.support import REPO

sys.path.insert(0, str(REPO / layout.SYNAPSE_MODULE_SOURCE))
from counselkit_synapse import notices  # noqa: E402

HOSTILE_CENTRE = 'Beratung <script>alert(1)</script> & "Nord"\r\nBcc: evil@x.example'


def test_notice_is_german_and_names_the_centre():
    notice = notices.new_enquiry_notice("AWO Kiel")
    assert notice.subject == "Neue Anfrage bei AWO Kiel"
    assert "bei AWO Kiel wartet eine neue Beratungsanfrage" in notice.text
    assert "bei AWO Kiel wartet eine neue Beratungsanfrage" in notice.html and 'lang="de"' in notice.html


def test_hostile_centre_name_breaks_neither_header_nor_html():
    notice = notices.new_enquiry_notice(HOSTILE_CENTRE)
    assert "\r" not in notice.subject and "\n" not in notice.subject
    assert "<script>" not in notice.html and "&lt;script&gt;" in notice.html and "&quot;Nord&quot;" in notice.html


def test_only_email_threepids():
    assert notices.email_addresses([{"medium": "msisdn", "address": "4917012345"},
                                    {"medium": "email", "address": "c@awo.example"},
                                    {"medium": "email", "address": ""}]) == ["c@awo.example"]


def _send(counsellors, threepids, fail=()):
    sent: list[dict] = []

    async def threepids_of(user):
        return threepids.get(user, [])

    async def send_mail(**mail):
        if mail["recipient"] in fail:
            raise ConnectionRefusedError("relay down")
        sent.append(mail)

    count = asyncio.run(notices.notify_counsellors(counsellors, "AWO Kiel", threepids_of, send_mail))
    return count, sent


def test_every_counsellor_with_an_address_gets_one_and_one_failure_stops_nobody():
    threepids = {"@anna:awo.example": [{"medium": "email", "address": "anna@awo.example"}],
                 "@ben:awo.example": [],  # no address: nothing to send
                 "@cem:awo.example": [{"medium": "email", "address": "cem@awo.example"}],
                 "@dora:awo.example": [{"medium": "email", "address": "dora@awo.example"}]}
    count, sent = _send(list(threepids), threepids, fail={"cem@awo.example"})
    assert count == 2 and [m["recipient"] for m in sent] == ["anna@awo.example", "dora@awo.example"]
    assert set(sent[0]) == {"recipient", "subject", "html", "text"}  # ModuleApi.send_mail's keyword arguments


def test_module_hands_the_notice_only_the_counsellors_and_the_centre_name():
    # The call site in the module (create_enquiry): no help-seeker, topic, room or request reaches the notice.
    tree = ast.parse((REPO / layout.SYNAPSE_MODULE_SOURCE / "counselkit_synapse" / "module.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "run_as_background_process"
             and any(isinstance(a, ast.Attribute) and a.attr == "notify_counsellors" for a in n.args)]
    assert len(calls) == 1
    assert [ast.unparse(a) for a in calls[0].args[2:]] == [
        "counsellors", "self.config.centre_name", "self.api.get_threepids_for_user", "self.api.send_mail"]
    assert calls[0].keywords == []


@pytest.mark.parametrize("secret", ["hilfe-suchend", "Schulden", "Ich brauche Hilfe", "!room:awo.example"])
def test_notice_for_a_hostile_centre_carries_only_the_centre(secret):
    notice = notices.new_enquiry_notice(f"AWO Kiel {secret}")
    assert secret in notice.subject  # the centre name is there ...
    plain = notices.new_enquiry_notice("AWO Kiel")
    assert secret not in plain.subject + plain.text + plain.html  # ... and nothing else is


def test_seats_taken_notice_names_centre_seats_and_the_staff_account_only():
    notice = notices.seats_taken_notice(HOSTILE_CENTRE, 4, "b.jensen\r\nBcc: evil@x.example")
    assert notice.subject.startswith("Kein freier Beratungsplatz bei Beratung")
    assert "\r" not in notice.subject and "\n" not in notice.subject
    assert "alle 4 lizenzierten Beratungsplätze belegt" in notice.text and "b.jensen Bcc" in notice.text
    assert "<script>" not in notice.html and 'lang="de"' in notice.html


def test_seats_taken_notice_goes_to_each_admin_and_survives_a_failing_relay():
    sent: list[str] = []

    async def send_mail(recipient, subject, html, text):
        if recipient == "down@awo.example":
            raise OSError("relay down")
        sent.append(recipient)

    count = asyncio.run(notices.notify_admins_seats_taken(["a@awo.example", "down@awo.example", "b@awo.example"],
                                                          "AWO Kiel", 4, "b.jensen", send_mail))
    assert (count, sent) == (2, ["a@awo.example", "b@awo.example"])
