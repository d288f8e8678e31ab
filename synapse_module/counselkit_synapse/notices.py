"""Content-free e-mail notices to counsellors about a new enquiry (issue 15 point 5).

A notice says only which centre it is from and that a new enquiry waits: never the message (the module cannot read
it anyway: rooms are end-to-end encrypted), never the help-seeker's name or username, never the topic, never the
room. The counsellor opens the counselling client to see more. Sent through Synapse's own mail sending
(``ModuleApi.send_mail``, Synapse's ``email:`` section = platform.smtp) to every counsellor with an e-mail address,
only when the tenant's counselling.notify_counsellors is on. This file imports nothing from Synapse, so its content
rules are unit-tested without a homeserver.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str
    html: str


def _one_line(value: str) -> str:
    # The centre's name goes into a mail subject: a line break there would be a header break.
    return " ".join(value.split())


def new_enquiry_notice(centre_name: str) -> Notice:
    """The notice for a new enquiry at ``centre_name``: German, and the centre's name is its only variable."""
    centre = _one_line(centre_name)
    subject = f"Neue Anfrage bei {centre}"
    text = (f"Guten Tag,\n\nbei {centre} wartet eine neue Beratungsanfrage.\n"
            "Bitte melden Sie sich in der Beratungsanwendung an, um sie anzunehmen.\n\n"
            "Diese Nachricht enthält aus Datenschutzgründen keine Inhalte der Anfrage.\n")
    centre_html = html.escape(centre, quote=True)
    body = (f"<p>Guten Tag,</p><p>bei {centre_html} wartet eine neue Beratungsanfrage.<br>"
            "Bitte melden Sie sich in der Beratungsanwendung an, um sie anzunehmen.</p>"
            "<p>Diese Nachricht enthält aus Datenschutzgründen keine Inhalte der Anfrage.</p>")
    return Notice(subject=subject, text=text, html=f"<!DOCTYPE html><html lang=\"de\"><body>{body}</body></html>")


def seats_taken_notice(centre_name: str, seats: int, username: str) -> Notice:
    """To the centre's admins: a counsellor account was refused because every licensed seat is taken. Names the
    refused staff account (the admins must know whom to help), never a help-seeker."""
    centre, who = _one_line(centre_name), _one_line(username)
    subject = f"Kein freier Beratungsplatz bei {centre}"
    advice = ("Deaktivieren Sie ein nicht mehr genutztes Beratungskonto, oder erweitern Sie die Zahl der Plätze "
              "bei Ihrem IT-Dienstleister. Danach kann sich die Person erneut anmelden.")
    text = (f"Guten Tag,\n\nbei {centre} sind alle {seats} lizenzierten Beratungsplätze belegt. Das Konto "
            f"„{who}“ wurde deshalb nicht angelegt.\n{advice}\n")
    body = (f"<p>Guten Tag,</p><p>bei {html.escape(centre, quote=True)} sind alle {seats} lizenzierten "
            f"Beratungsplätze belegt. Das Konto „{html.escape(who, quote=True)}“ wurde deshalb nicht angelegt.<br>"
            f"{advice}</p>")
    return Notice(subject=subject, text=text, html=f"<!DOCTYPE html><html lang=\"de\"><body>{body}</body></html>")


async def notify_admins_seats_taken(admins: Iterable[str], centre_name: str, seats: int, username: str,
                                    send_mail: Callable[..., Awaitable[None]]) -> int:
    """Send the seats-taken notice to each of the centre's admins (tenants.yaml admins); how many were sent."""
    notice = seats_taken_notice(centre_name, seats, username)
    sent = 0
    for address in admins:
        try:
            await send_mail(recipient=address, subject=notice.subject, html=notice.html, text=notice.text)
            sent += 1
        except Exception:
            logger.warning("counselkit: the seats-taken notice to the centre's admin could not be sent", exc_info=True)
    return sent


def email_addresses(threepids: Iterable[dict[str, Any]]) -> list[str]:
    """The e-mail addresses among a user's third-party identifiers (ModuleApi.get_threepids_for_user)."""
    return [str(t["address"]) for t in threepids if t.get("medium") == "email" and t.get("address")]


async def notify_counsellors(counsellors: Iterable[str], centre_name: str,
                             threepids_of: Callable[[str], Awaitable[list[dict[str, Any]]]],
                             send_mail: Callable[..., Awaitable[None]]) -> int:
    """Send the new-enquiry notice to every address of every counsellor; returns how many were sent.

    One failed address does not stop the others; the log names the counsellor, never the help-seeker.
    """
    notice = new_enquiry_notice(centre_name)
    sent = 0
    for counsellor in counsellors:
        for address in email_addresses(await threepids_of(counsellor)):
            try:
                await send_mail(recipient=address, subject=notice.subject, html=notice.html, text=notice.text)
                sent += 1
            except Exception:  # the relay's error must not fail the enquiry, which exists already
                logger.warning("counselkit: the new-enquiry notice to %s could not be sent", counsellor, exc_info=True)
    return sent
