"""The counselling web app in real headless Chromium against a deployed site (issue 16 points 2, 3, 6).

A help-seeker registers and writes in one browser context; a counsellor, in a second context (another person,
another device), logs in, accepts the enquiry and replies; the help-seeker reads the reply — every message end-to-end
encrypted by the Rust crypto in the page (matrix-sdk-crypto-wasm). Each view the flow passes through is checked by
axe-core (no serious or critical violation); logout of either role leaves nothing of the origin in the browser
(IndexedDB, web storage, cookies, caches, service workers); the help-seeker then logs in again in a fresh context
(another device) with the password alone and reads the earlier messages, whose keys come from the key backup, and
the counsellor does the same with the recovery key shown at the first login;
"Schnell weg" leaves the page at once.

Runs on the example site the lab fixtures deploy once (tests/lab/conftest.py `example_site`, node3): nothing is
deployed here (the file sorts after test_parity.py, see tests/unit/test_lab_suite_order.py). For development on
another lab host, COUNSELKIT_WEBAPP_SITE names a JSON file {"host", "tenants", "env"} of a site deployed there.
COUNSELKIT_WEBAPP_SCREENSHOTS=DIR writes a PNG of each view into DIR (docs/screens/ is made so, see docs/webapp.md);
without it nothing is written.

The browser is Debian's /usr/bin/chromium driven by Python Playwright, started by the browser harness
(tests/browser/harness.py): the lab has no DNS, so `lab_chromium_args` maps the tenants' names to their lab
addresses (SNI and Host stay the name) and trusts exactly the certificates that verify against the site's internal
CA; the CSP and every other header are the real ones, and service workers register as in production.
"""

from __future__ import annotations

import json
import os
import re
import secrets as random_source
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from counselkit import policy
from counselkit.ca import split_pem
from counselkit.lab import load_state, ssh
from tests.browser.harness import axe_violations, chromium, lab_chromium_args, new_context, origin_storage, screenshot
from tests.support import REPO, environment_kept

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TENANT = "awo-kiel"
TIMEOUT_MS = 90_000  # the first load compiles 7.8 MB of wasm on a loaded 2-core machine
NEUTRAL_PAGE = "<!doctype html><title>neutral</title><p>neutral"
SCREENSHOTS = "COUNSELKIT_WEBAPP_SCREENSHOTS"


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The deployed site: {"host": LabHost, "tenants": Path, "env": {...}}."""
    named = os.environ.get("COUNSELKIT_WEBAPP_SITE")
    if not named:
        return request.getfixturevalue("example_site")
    data = json.loads(Path(named).read_text())
    host = next(h for h in load_state().hosts if h.name == data["host"])
    return {"host": host, "tenants": Path(data["tenants"]), "env": data["env"]}


@pytest.fixture(scope="module")
def plan(site: dict[str, Any]) -> Any:
    from counselkit.plan import load_plan

    return load_plan(site["tenants"])


@pytest.fixture(scope="module")
def tenant(plan: Any) -> dict[str, str]:
    entry = plan.tenant(TENANT)
    return {"domain": entry.domain, "address": plan.host(entry.host).address, "url": f"https://{entry.domain}/"}


@pytest.fixture(scope="module")
def ca_file(site: dict[str, Any], plan: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site's internal CA (from its secrets vault), which the browser harness verifies the tenants against."""
    from counselkit.secrets import SecretStore

    with environment_kept(*site["env"]):
        os.environ.update(site["env"])
        store = SecretStore.open(site["tenants"])
        ca = split_pem(store.get(plan.platform_secrets["internal_ca"]))[1]
    path = tmp_path_factory.mktemp("webapp-ca") / "ca.pem"
    path.write_bytes(ca)
    return path


@pytest.fixture(scope="module")
def browser(tenant: dict[str, str], ca_file: Path) -> Iterator[Any]:
    """One Chromium for the module (the harness's `browser`, with the lab's name map and certificates)."""
    with chromium(lab_chromium_args({tenant["domain"]: tenant["address"]}, ca_file)) as instance:
        yield instance


def add_counsellor(site: dict[str, Any]) -> tuple[str, str]:
    """`counselkit counsellor add` as an operator runs it (the lab's path; production logs in through Keycloak)."""
    username, password = f"web.c-{random_source.token_hex(4)}", random_source.token_urlsafe(18)
    options = [f"--ssh-option={o}" for o in ssh.ssh_options(site["host"])]
    result = subprocess.run([sys.executable, "-m", "counselkit.cli", "counsellor", "add", "--tenants",
                             str(site["tenants"]), *options, TENANT, username], input=password + "\n", cwd=REPO,
                            env={**os.environ, **site["env"]}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return username, password


def person(browser: Any) -> Any:
    """An isolated context (its own storage, like another person's browser); the quick-exit target is answered
    locally: the lab reaches no outside site."""
    context = new_context(browser)
    context.set_default_timeout(TIMEOUT_MS)
    context.route(re.compile(re.escape(policy.WEBAPP_QUICK_EXIT_URL) + ".*"),
                  lambda route: route.fulfill(status=200, content_type="text/html", body=NEUTRAL_PAGE))
    return context


class Views:
    """Each view the flow shows: checked by axe-core at once, and saved as a PNG when SCREENSHOTS names a
    directory. Violations are collected, so one run names every failing view."""

    def __init__(self) -> None:
        self.directory = os.environ.get(SCREENSHOTS)
        self.violations: dict[str, list[str]] = {}
        self.checked: list[str] = []
        self.axe_seconds = 0.0  # what the checks cost (CI time is tight): printed with the flow's time

    def __call__(self, page: Any, name: str) -> None:
        self.checked.append(name)
        started = time.monotonic()
        found = axe_violations(page)
        self.axe_seconds += time.monotonic() - started
        if found:
            self.violations[name] = [str(violation) for violation in found]
        if self.directory:
            screenshot(page, Path(self.directory) / f"{name}.png")


def no_view(page: Any, name: str) -> None:
    """Views already checked elsewhere (the quick-exit test passes the same registration views)."""


def assert_logged_out_clean(page: Any) -> None:
    page.get_by_text("Sie sind abgemeldet").wait_for()
    left = origin_storage(page)
    assert left.is_empty(), left


View = Callable[[Any, str], None]


def register(page: Any, url: str, view: View = no_view) -> tuple[str, str]:
    """Register as a help-seeker from the landing page; returns (username, password)."""
    page.goto(url)
    page.get_by_role("button", name="Jetzt anonym registrieren").wait_for()
    view(page, "1-landing")
    page.get_by_role("button", name="Jetzt anonym registrieren").click()
    username, password = f"web{random_source.token_hex(5)}", f"Ab1!{random_source.token_urlsafe(12)}"
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(password)
    page.get_by_label("Ich habe die").check()
    view(page, "2-registration")
    page.get_by_role("button", name="Registrieren").click()
    page.get_by_role("heading", name="Ihre erste Nachricht").wait_for()
    return username, password


def log_in(page: Any, url: str, opener: str, user_label: str, credentials: tuple[str, str], shown: tuple[View, str],
           then: str) -> None:
    """From the landing page: the `opener` button, the login form (shown to `shown`), until heading `then`."""
    page.goto(url)
    page.get_by_role("button", name=opener).click()
    page.get_by_label(user_label).fill(credentials[0])
    page.get_by_label("Passwort").fill(credentials[1])
    shown[0](page, shown[1])
    page.get_by_role("button", name="Anmelden").click()
    page.get_by_role("heading", name=then).wait_for()


def counsellor_login(page: Any, url: str, username: str, password: str, view: View = no_view,
                     recovery_key: str | None = None) -> str:
    """Log in as a counsellor. The first login of an account shows a new recovery key (returned); a later one, on a
    device that has never seen the account, asks for it (`recovery_key`) and restores the conversations' keys."""
    first = recovery_key is None
    log_in(page, url, "Anmeldung für Beraterinnen und Berater", "Benutzername", (username, password),
           (view, "5-counsellor-login" if first else "10-counsellor-login-again"),
           "Ihr Wiederherstellungsschlüssel" if first else "Wiederherstellungsschlüssel eingeben")
    if first:
        recovery_key = page.locator("#recovery-key").inner_text().strip()
        assert len(recovery_key.replace(" ", "")) > 40, recovery_key
        view(page, "5b-counsellor-recovery-key")
        assert page.get_by_role("button", name="Weiter").is_disabled()  # only once the key is saved
        page.get_by_label("Ich habe den Schlüssel sicher aufbewahrt.").check()
        page.get_by_role("button", name="Weiter").click()
    else:
        page.get_by_label("Wiederherstellungsschlüssel").fill(recovery_key)
        view(page, "10b-counsellor-recovery-entry")
        page.get_by_role("button", name="Entsperren").click()
    page.get_by_role("heading", name="Offene Anfragen").wait_for()
    return recovery_key


def seeker_login(page: Any, url: str, username: str, password: str, view: View, *history: str) -> None:
    """Log in as a help-seeker on a device that has never seen the account; every text of `history` decrypts."""
    log_in(page, url, "Ich habe schon ein Konto", "Ihr Benutzername", (username, password),
           (view, "8-seeker-login"), "Ihr Gespräch")
    for text in history:
        page.locator(".message .body", has_text=text).wait_for()
    assert page.locator(".message .body", has_text="nicht entschlüsselt").count() == 0
    view(page, "9-seeker-history")


def test_help_seeker_and_counsellor_write_encrypted_in_the_browser(site, tenant, browser) -> None:
    started = time.monotonic()
    view = Views()
    first, reply = f"Ich brauche Rat {random_source.token_hex(6)}", f"Wir sind für Sie da {random_source.token_hex(6)}"
    c_name, c_password = add_counsellor(site)
    counsellor_ctx, seeker_ctx = person(browser), person(browser)
    try:
        counsellor = counsellor_ctx.new_page()
        # the counsellor's device exists before the first message: its key is shared with it (invited members)
        recovery_key = counsellor_login(counsellor, tenant["url"], c_name, c_password, view)

        seeker = seeker_ctx.new_page()
        s_name, s_password = register(seeker, tenant["url"], view)
        seeker.get_by_label("Ihre Nachricht an die Beratung").fill(first)
        view(seeker, "3-first-message")
        seeker.get_by_role("button", name="Nachricht senden").click()
        seeker.get_by_role("heading", name="Ihr Gespräch").wait_for()
        seeker.locator(".message.mine .body", has_text=first).wait_for()

        # this enquiry appears in the counsellor's queue (polled; a reused site may list older ones): accept it,
        # read, reply
        room = seeker.locator("section.conversation").get_attribute("data-room")
        assert room and room.startswith("!"), room
        enquiry = counsellor.locator(f'#open-enquiries li[data-room="{room}"]')
        enquiry.wait_for()
        view(counsellor, "6-counsellor-queue")
        enquiry.get_by_role("button", name="Annehmen").click()
        counsellor.locator(".message .body", has_text=first).wait_for()
        counsellor.get_by_label("Ihre Nachricht").fill(reply)
        counsellor.get_by_role("button", name="Senden").click()
        counsellor.locator(".message.mine .body", has_text=reply).wait_for()
        view(counsellor, "7-counsellor-conversation")

        seeker.locator(".message:not(.mine) .body", has_text=reply).wait_for()
        assert seeker.locator(".message .body", has_text="nicht entschlüsselt").count() == 0
        view(seeker, "4-conversation")

        # logout, both roles: the server forgets the device; the browser keeps nothing of the origin
        counsellor.get_by_role("button", name="Zurück zur Übersicht").click()  # the overview has the logout
        for page in (seeker, counsellor):
            before = origin_storage(page)
            assert any(name.startswith("counselkit-crypto") for name in before.indexed_db), before
            assert before.session_storage, before  # the session (and the crypto store's key) were there to clear
            page.get_by_role("button", name="Abmelden").click()
            assert_logged_out_clean(page)

        # key backup: the help-seeker logs in on another device (a fresh context, nothing local) with the password
        # alone; the room keys come from the server's backup, and the earlier messages of both sides decrypt
        again_started, again_ctx = time.monotonic(), person(browser)
        try:
            seeker_login(again_ctx.new_page(), tenant["url"], s_name, s_password, view, first, reply)
        finally:
            again_ctx.close()
        again_seconds = time.monotonic() - again_started

        # the counsellor's next login (a new device: logout left nothing) with the recovery key: the conversation's
        # earlier messages of both sides decrypt from the counsellor's key backup
        again_ctx = person(browser)
        try:
            page = again_ctx.new_page()
            counsellor_login(page, tenant["url"], c_name, c_password, view, recovery_key)
            page.locator(f'#my-conversations li[data-room="{room}"]').get_by_role("button", name="Öffnen").click()
            for text in (first, reply):
                page.locator(".message .body", has_text=text).wait_for()
            assert page.locator(".message .body", has_text="nicht entschlüsselt").count() == 0
            view(page, "11-counsellor-history")
        finally:
            again_ctx.close()
    finally:
        counsellor_ctx.close()
        seeker_ctx.close()
    print(f"webapp browser flow: {time.monotonic() - started:.1f} s, of which axe on {len(view.checked)} views "
          f"{view.axe_seconds:.1f} s, login on a second device {again_seconds:.1f} s")
    assert view.checked == ["5-counsellor-login", "5b-counsellor-recovery-key", "1-landing", "2-registration",
                            "3-first-message", "6-counsellor-queue", "7-counsellor-conversation", "4-conversation",
                            "8-seeker-login", "9-seeker-history", "10-counsellor-login-again",
                            "10b-counsellor-recovery-entry", "11-counsellor-history"]
    assert not view.violations, json.dumps(view.violations, indent=2, ensure_ascii=False)


def test_quick_exit_leaves_at_once_and_keeps_nothing(site, tenant, browser) -> None:
    context = person(browser)
    try:
        page = context.new_page()
        register(page, tenant["url"])
        assert origin_storage(page).indexed_db, "registration set up no crypto store: nothing to clear"
        page.get_by_role("link", name="Schnell weg").click()
        page.wait_for_url(policy.WEBAPP_QUICK_EXIT_URL + "**")
        assert page.title() == "neutral"
        page.go_back()  # the centre's page was replaced in the history: "back" does not return to it
        assert not page.url.startswith(tenant["url"]), page.url
        left = origin_storage(page, tenant["url"].rstrip("/"))  # read from a script-free path of the origin
        assert left.is_empty(), left
    finally:
        context.close()


def test_a_password_change_keeps_the_history_and_retires_the_old_password(site, tenant, browser) -> None:
    """The help-seeker changes the password; on another device the new one opens the account and the key backup
    (the first message decrypts), the old one opens neither. The form is checked by axe-core too."""
    view = Views()
    first = f"Vor dem Passwortwechsel {random_source.token_hex(6)}"
    context = person(browser)
    try:
        page = context.new_page()
        name, old_password = register(page, tenant["url"])
        page.get_by_label("Ihre Nachricht an die Beratung").fill(first)
        page.get_by_role("button", name="Nachricht senden").click()
        page.locator(".message.mine .body", has_text=first).wait_for()
        new_password = f"Neu2!{random_source.token_urlsafe(12)}"
        page.get_by_role("button", name="Passwort ändern").click()
        page.get_by_label("Bisheriges Passwort").fill(old_password)
        page.get_by_label("Neues Passwort", exact=True).fill(new_password)
        page.get_by_label("Neues Passwort wiederholen").fill(new_password)
        view(page, "12-password-change")
        page.get_by_role("button", name="Passwort ändern").last.click()
        page.get_by_text("Ihr Passwort ist geändert.").wait_for()
        page.get_by_role("button", name="Abmelden").click()
        assert_logged_out_clean(page)
    finally:
        context.close()

    context = person(browser)
    try:
        page = context.new_page()
        log_in(page, tenant["url"], "Ich habe schon ein Konto", "Ihr Benutzername", (name, old_password),
               (no_view, ""), "Anmelden")
        page.get_by_text("Benutzername oder Passwort stimmen nicht.").wait_for()
        seeker_login(page, tenant["url"], name, new_password, no_view, first)
    finally:
        context.close()
    assert view.checked == ["12-password-change"]
    assert not view.violations, json.dumps(view.violations, indent=2, ensure_ascii=False)
