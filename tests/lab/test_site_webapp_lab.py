"""The counselling web app in real headless Chromium against a deployed site (issue 16 points 2, 3, 6).

A help-seeker registers and writes in one browser context; a counsellor, in a second context (another person,
another device), logs in, accepts the enquiry and replies; the help-seeker reads the reply — every message end-to-end
encrypted by the Rust crypto in the page (matrix-sdk-crypto-wasm). Logout leaves nothing of the origin in the
browser; "Schnell weg" leaves the page at once.

Runs on the example site the lab fixtures deploy once (tests/lab/conftest.py `example_site`, node3): nothing is
deployed here (the file sorts after test_parity.py, see tests/unit/test_lab_suite_order.py). For development on
another lab host, COUNSELKIT_WEBAPP_SITE names a JSON file {"host", "tenants", "env"} of a site deployed there;
COUNSELKIT_WEBAPP_SCREENSHOTS=DIR saves a screenshot of each view there (docs/screens/ is made so).

The browser is Debian's /usr/bin/chromium driven by Python Playwright (never a downloaded browser). The lab has no
DNS: Chromium maps the tenant's name to the lab host's address (SNI and Host stay the name) and accepts the lab's
internal CA only for this test's contexts (ignore_https_errors); the CSP and every other header are the real ones.
"""

from __future__ import annotations

import json
import os
import re
import secrets as random_source
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from counselkit import policy
from counselkit.lab import load_state, ssh
from tests.support import REPO

pytestmark = [pytest.mark.lab, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
TENANT = "awo-kiel"
TIMEOUT_MS = 90_000  # the first load compiles 7.8 MB of wasm on a loaded 2-core machine
NEUTRAL_PAGE = "<!doctype html><title>neutral</title><p>neutral"


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
def tenant(site: dict[str, Any]) -> dict[str, str]:
    from counselkit.plan import load_plan

    plan = load_plan(site["tenants"])
    entry = plan.tenant(TENANT)
    return {"domain": entry.domain, "address": plan.host(entry.host).address, "url": f"https://{entry.domain}/"}


def add_counsellor(site: dict[str, Any]) -> tuple[str, str]:
    """`counselkit counsellor add` as an operator runs it (the lab's path; production logs in through Keycloak)."""
    username, password = f"web.c-{random_source.token_hex(4)}", random_source.token_urlsafe(18)
    options = [f"--ssh-option={o}" for o in ssh.ssh_options(site["host"])]
    result = subprocess.run([sys.executable, "-m", "counselkit.cli", "counsellor", "add", "--tenants",
                             str(site["tenants"]), *options, TENANT, username], input=password + "\n", cwd=REPO,
                            env={**os.environ, **site["env"]}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return username, password


@pytest.fixture(scope="module")
def browser(tenant: dict[str, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Debian's chromium (scripts/counselkit test does)"
    args = ["--disable-dev-shm-usage", "--no-proxy-server",
            f"--host-resolver-rules=MAP {tenant['domain']} {tenant['address']}"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox refuses root (CI runs as root)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield instance
        finally:
            instance.close()


def new_context(browser: Any) -> Any:
    """An isolated context (its own storage, like another person's browser); the quick-exit target is answered
    locally: the lab reaches no outside site."""
    context = browser.new_context(ignore_https_errors=True, locale="de-DE")
    context.set_default_timeout(TIMEOUT_MS)
    context.route(re.compile(re.escape(policy.WEBAPP_QUICK_EXIT_URL) + ".*"),
                  lambda route: route.fulfill(status=200, content_type="text/html", body=NEUTRAL_PAGE))
    return context


def snap(page: Any, name: str) -> None:
    """A screenshot of the view for docs/screens/, only when asked for (COUNSELKIT_WEBAPP_SCREENSHOTS)."""
    directory = os.environ.get("COUNSELKIT_WEBAPP_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def origin_storage(page: Any) -> dict[str, Any]:
    """What the browser holds for the page's origin: IndexedDB databases, web storage, caches, service workers."""
    return page.evaluate("""async () => ({
        indexeddb: (await indexedDB.databases()).map((d) => d.name),
        local: localStorage.length, session: sessionStorage.length,
        caches: await caches.keys(),
        workers: (await navigator.serviceWorker.getRegistrations()).length,
    })""")


def register(page: Any, url: str) -> str:
    page.goto(url)
    page.get_by_role("button", name="Jetzt anonym registrieren").wait_for()
    snap(page, "1-landing")
    page.get_by_role("button", name="Jetzt anonym registrieren").click()
    username = f"web{random_source.token_hex(5)}"
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(f"Ab1!{random_source.token_urlsafe(12)}")
    page.get_by_label("Ich habe die").check()
    snap(page, "2-registration")
    page.get_by_role("button", name="Registrieren").click()
    page.get_by_role("heading", name="Ihre erste Nachricht").wait_for()
    return username


def counsellor_login(page: Any, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Anmeldung für Beraterinnen und Berater").click()
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    page.get_by_role("heading", name="Offene Anfragen").wait_for()


def test_help_seeker_and_counsellor_write_encrypted_in_the_browser(site, tenant, browser) -> None:
    started = time.monotonic()
    first, reply = f"Ich brauche Rat {random_source.token_hex(6)}", f"Wir sind für Sie da {random_source.token_hex(6)}"
    c_name, c_password = add_counsellor(site)
    counsellor_ctx, seeker_ctx = new_context(browser), new_context(browser)
    try:
        counsellor = counsellor_ctx.new_page()
        # the counsellor's device exists before the first message: its key is shared with it (invited members)
        counsellor_login(counsellor, tenant["url"], c_name, c_password)

        seeker = seeker_ctx.new_page()
        register(seeker, tenant["url"])
        seeker.get_by_label("Ihre Nachricht an die Beratung").fill(first)
        snap(seeker, "3-first-message")
        seeker.get_by_role("button", name="Nachricht senden").click()
        seeker.get_by_role("heading", name="Ihr Gespräch").wait_for()
        seeker.locator(".message.mine .body", has_text=first).wait_for()

        # this enquiry appears in the counsellor's queue (polled; a reused site may list older ones): accept it,
        # read, reply
        room = seeker.locator("section.conversation").get_attribute("data-room")
        assert room and room.startswith("!"), room
        enquiry = counsellor.locator(f'#open-enquiries li[data-room="{room}"]')
        enquiry.wait_for()
        snap(counsellor, "5-counsellor-queue")
        enquiry.get_by_role("button", name="Annehmen").click()
        counsellor.locator(".message .body", has_text=first).wait_for()
        counsellor.get_by_label("Ihre Nachricht").fill(reply)
        counsellor.get_by_role("button", name="Senden").click()
        counsellor.locator(".message.mine .body", has_text=reply).wait_for()
        snap(counsellor, "6-counsellor-conversation")

        seeker.locator(".message:not(.mine) .body", has_text=reply).wait_for()
        assert seeker.locator(".message .body", has_text="nicht entschlüsselt").count() == 0
        snap(seeker, "4-conversation")

        # logout: the server forgets the device; the browser keeps nothing of the origin
        before = origin_storage(seeker)
        assert any(name.startswith("counselkit-crypto") for name in before["indexeddb"]), before
        seeker.get_by_role("button", name="Abmelden").click()
        seeker.get_by_text("Sie sind abgemeldet").wait_for()
        assert origin_storage(seeker) == {"indexeddb": [], "local": 0, "session": 0, "caches": [], "workers": 0}
    finally:
        counsellor_ctx.close()
        seeker_ctx.close()
    print(f"webapp browser flow: {time.monotonic() - started:.1f} s")


def test_quick_exit_leaves_at_once_and_keeps_nothing(site, tenant, browser) -> None:
    context = new_context(browser)
    try:
        page = context.new_page()
        register(page, tenant["url"])
        assert origin_storage(page)["indexeddb"], "registration set up no crypto store: nothing to clear"
        page.get_by_role("link", name="Schnell weg").click()
        page.wait_for_url(policy.WEBAPP_QUICK_EXIT_URL + "**")
        assert page.title() == "neutral"
        page.go_back()  # the centre's page was replaced in the history: "back" does not return to it
        assert not page.url.startswith(tenant["url"]), page.url
        page.goto(tenant["url"] + ".well-known/matrix/client")  # same origin, no script of ours runs there
        assert origin_storage(page) == {"indexeddb": [], "local": 0, "session": 0, "caches": [], "workers": 0}
    finally:
        context.close()
