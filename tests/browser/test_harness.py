"""The harness itself, against local static pages: it drives the real Chromium, its readers see what a page left
behind, and its accessibility check reports a known violation (and nothing on a clean page)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import (
    CHROMIUM, OriginStorage, axe_violations, beside_browser, chromium, new_context, origin_storage, screenshot,
)

pytestmark = pytest.mark.browser


def test_it_is_debians_chromium(browser: Any) -> None:
    import subprocess

    packaged = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, check=True).stdout
    assert browser.version.split(".")[0] in packaged and int(browser.version.split(".")[0]) >= 120


def test_known_violations_are_reported(browser_context: Any, static_site: str) -> None:
    page = browser_context.new_page()
    page.goto(f"{static_site}/a11y-bad.html")
    found = {violation.rule: violation for violation in axe_violations(page)}
    assert {"image-alt", "button-name", "label"} <= set(found)
    assert found["image-alt"].impact == "critical" and found["image-alt"].targets == ["img"]
    assert all(v.impact in ("serious", "critical") for v in found.values()) and "heading-order" not in found
    everything = {violation.rule: violation.impact for violation in axe_violations(page, impacts=("moderate",))}
    assert everything == {"heading-order": "moderate"}  # the filter hides lower impacts; the run found them


def test_axe_runs_under_a_csp_that_blocks_inline_script(browser_context: Any, static_site: str) -> None:
    page = browser_context.new_page()
    page.goto(f"{static_site}/inline.html")
    assert page.title() == "unverändert"  # the test server's CSP is in force: inline script did not run
    assert axe_violations(page) == []  # and axe still ran (a clean page: nothing serious)
    assert page.evaluate("typeof axe.run") == "function"


def test_a_clean_page_has_no_serious_violation(browser_context: Any, static_site: str) -> None:
    page = browser_context.new_page()
    page.goto(f"{static_site}/a11y-good.html")
    assert axe_violations(page) == []


def test_storage_is_listed_and_empty_after_wiping(browser_context: Any, static_site: str) -> None:
    page = browser_context.new_page()
    page.goto(f"{static_site}/storage.html")
    page.evaluate("() => window.counselkitWritten")
    found = origin_storage(page)
    assert found.indexed_db == ["counselkit-session", "matrix-js-sdk:crypto"]
    assert found.local_storage == {"mx_device_id": "ABCDEFG"}
    assert found.session_storage == {"counselkit.session": '{"role":"seeker"}'}
    assert found.caches == ["counselkit-v1"]
    assert found.service_workers == [f"{static_site}/"]
    assert found.cookies == ["counselkit_hint"] and not found.is_empty()
    page.evaluate("() => window.counselkitWipe()")
    page.goto("about:blank")  # left the site, as after a quick exit: the reader goes back to the origin itself
    assert origin_storage(page, static_site) == OriginStorage() and origin_storage(page, static_site).is_empty()


def test_contexts_are_isolated(browser: Any, static_site: str) -> None:
    first, second = new_context(browser), new_context(browser)
    try:
        page = first.new_page()
        page.goto(f"{static_site}/storage.html")
        page.evaluate("() => window.counselkitWritten")
        other = second.new_page()
        assert not origin_storage(page).is_empty()
        assert origin_storage(other, static_site).is_empty()
    finally:
        first.close()
        second.close()


def test_screenshot_is_a_png(browser_context: Any, static_site: str, tmp_path: Path) -> None:
    page = browser_context.new_page()
    page.goto(f"{static_site}/a11y-good.html")
    shot = screenshot(page, tmp_path / "views" / "good.png")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 1000


async def _answer() -> int:
    await asyncio.sleep(0)
    return 42


def _open_close_then_asyncio() -> tuple[str, int]:
    with chromium() as other:
        version = other.version
    return version, asyncio.run(_answer())  # closing a browser releases the loop


def test_asyncio_beside_an_open_browser_and_after_it(browser: Any) -> None:
    loop = asyncio.new_event_loop()  # like tests/matrix_client.E2EEClient: one loop, driven call by call
    coroutine = _answer()
    try:
        with pytest.raises(RuntimeError):  # what beside_browser is for: the sync API's loop counts as running
            asyncio.run(coroutine)
        assert beside_browser(loop.run_until_complete, _answer()) == 42
        assert beside_browser(loop.run_until_complete, _answer()) == 42  # the same loop from another thread
    finally:
        coroutine.close()
        loop.close()
    # After its browser is closed a thread has asyncio back: why `browser` is module-scoped, not session-scoped.
    assert beside_browser(_open_close_then_asyncio) == (browser.version, 42)
