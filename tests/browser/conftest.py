"""Fixtures of the browser tests: the harness's (tests/browser/harness.py), and a static site for its own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.harness import browser, browser_context, serve_directory  # noqa: F401  (fixtures by name)

PAGES = Path(__file__).parent / "pages"


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    """Base URL of tests/browser/pages served on 127.0.0.1 under a strict CSP."""
    with serve_directory(PAGES) as url:
        yield url
