"""The browser test harness: real headless Chromium (Debian's /usr/bin/chromium) driven by Python Playwright.

Used by tests/browser (the harness's own tests against a local static page) and by the web app's lab tests.
Import the fixtures into a conftest.py to use them there (pytest finds fixtures by the conftest's names):

    from tests.browser.harness import browser, browser_context  # noqa: F401  (fixtures)
    from tests.browser.harness import new_context, origin_storage, axe_violations, screenshot, beside_browser

- `browser` (module fixture): one Chromium per test module (starting it takes seconds here).
- `browser_context` (fixture): a fresh, isolated context (own cookies, storage, service workers), closed after.
- `new_context(browser)`: another isolated context inside a test, e.g. the counsellor next to the help-seeker.
- `origin_storage(page, origin)`: everything the browser keeps for an origin (IndexedDB database names,
  localStorage, sessionStorage, Cache Storage, service workers, cookies), to prove that logout leaves nothing.
- `axe_violations(page)`: axe-core's serious and critical violations of the page as it is now.
- `screenshot(page, path)`: a full-page PNG at `path` (for docs/).
- `beside_browser(function, *args)`: asyncio code (E2EEClient) while the browser is open, in a worker thread.
- `chromium(extra_args)`: the browser as a context manager, outside fixtures; for the lab with
  `lab_chromium_args(names, ca_file)`: tenant names mapped to lab addresses, their CA-verified certificates trusted.
- `serve_directory(directory)`: a static server on 127.0.0.1 (context manager, yields the base URL) sending a
  strict CSP, for tests without the lab (the harness's own; the built bundle with a made-up config.json).

Playwright is used with the system's Chromium (`executable_path`), never with a browser of its own: nothing here
downloads a browser (`playwright install` is never run). axe-core comes from npm, pinned by
tests/browser/package-lock.json; scripts/counselkit test installs it with `npm ci`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium` (scripts/counselkit apt_packages)
HERE = Path(__file__).resolve().parent
AXE_SCRIPT = HERE / "node_modules" / "axe-core" / "axe.min.js"
# Impacts that fail a test: axe's two highest of minor, moderate, serious, critical.
BLOCKING_IMPACTS = ("serious", "critical")
# A path of the origin that serves no script (nginx answers 404 for unknown paths): reading storage there cannot
# itself create any.
PROBE_PATH = "/.well-known/counselkit-storage-probe"
LOCALE = "de-DE"  # the web app is German; axe checks that the page says so (html-has-lang, valid-lang)


class HarnessError(RuntimeError):
    """The harness cannot run: something the install path should have put in place is missing."""


# Names the browser may reach: none by default but 127.0.0.1 (the local test servers; the rules cover IP literals
# too), so a test never reaches outside the machine and the lab, not even through a quick-exit link to a real site.
NO_OTHER_NAMES = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def chromium_args(extra: list[str] | None = None) -> list[str]:
    # Chromium refuses to start as root with its sandbox (CI and the lab's control machine run as root); the pages
    # are our own test pages and the lab's, not the internet. /dev/shm in containers is small: use /tmp instead.
    args = ["--disable-dev-shm-usage", *(extra or [])]
    if not any(arg.startswith("--host-resolver-rules=") for arg in args):
        args.append(f"--host-resolver-rules={NO_OTHER_NAMES}")
    return [*args, "--no-sandbox"] if os.geteuid() == 0 else args


def launch_browser(playwright: Any, extra_args: list[str] | None = None) -> Any:
    if not CHROMIUM.is_file():
        raise HarnessError(f"{CHROMIUM} is missing: install Debian's chromium (scripts/counselkit test does)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args(extra_args))


def _spki_sha256(der: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_der_x509_certificate(der).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def verified_spki(name: str, address: str, ca_file: Path, port: int = 443) -> str:
    """The SPKI hash of the certificate `address` serves for `name`, once Python has verified it against `ca_file`.

    Raises ssl.SSLError (or OSError) when it does not verify: the browser then never sees that site."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection((address, port), timeout=15) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None  # a verified handshake always has the peer's certificate
    return _spki_sha256(der)


def lab_chromium_args(names: dict[str, str], ca_file: Path, port: int = 443) -> list[str]:
    """Chromium arguments to reach the lab's tenants by name, trusting exactly their verified certificates.

    `names` maps each tenant domain to its lab host's address (tests/lab: {t.domain: plan.host(t.host).address});
    every other name stays unresolvable. Chromium on Linux has no flag to trust a CA file, and its SPKI allow-list
    matches only certificates the server sends (the lab's CA is not sent): so each tenant's certificate is verified
    here against the lab's CA, and Chromium accepts exactly those keys. Service workers then register as in
    production (with ignore_https_errors they do not: no worker script is fetched over a certificate error)."""
    rules = [f"MAP {name} {address}" for name, address in sorted(names.items())] + [NO_OTHER_NAMES]
    pins = sorted({verified_spki(name, address, ca_file, port) for name, address in names.items()})
    return [f"--host-resolver-rules={', '.join(rules)}", f"--ignore-certificate-errors-spki-list={','.join(pins)}"]


@contextmanager
def chromium(extra_args: list[str] | None = None) -> Iterator[Any]:
    """A headless Chromium, closed (and Playwright's event loop released) on leaving the block.

    `extra_args`: e.g. lab_chromium_args(...) for the lab's tenants."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_browser(playwright, extra_args)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module; each test takes its own context (see `browser_context`).

    Module, not session scope: while Playwright's sync API is open, its event loop counts as running in this
    thread, so asyncio.run() and loop.run_until_complete() fail here (tests/matrix_client.py's E2EEClient too).
    Closing the browser after its module keeps asyncio working for every other module; inside a browser module,
    call asyncio code through `beside_browser`."""
    with chromium() as instance:
        yield instance


def beside_browser(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` run in a worker thread, waited for: asyncio code next to an open browser.

    An event loop is bound to no thread while it is not running, so one E2EEClient may be driven through
    several such calls."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def new_context(browser: Any, **options: Any) -> Any:
    """An isolated browser context: its own cookies, storage, caches and service workers, like a separate person.

    German locale; HTTPS errors are not ignored (the lab's certificates come from its own CA, which the caller
    passes as it needs: `ignore_https_errors=True` only with a reason)."""
    return browser.new_context(**{"locale": LOCALE, **options})


@pytest.fixture
def browser_context(browser: Any) -> Iterator[Any]:
    context = new_context(browser)
    try:
        yield context
    finally:
        context.close()


@dataclass(frozen=True)
class OriginStorage:
    """What a browser context keeps for one origin."""

    indexed_db: list[str] = field(default_factory=list)  # database names
    local_storage: dict[str, str] = field(default_factory=dict)
    session_storage: dict[str, str] = field(default_factory=dict)  # of the page's tab only (per-tab by design)
    caches: list[str] = field(default_factory=list)  # Cache Storage names
    service_workers: list[str] = field(default_factory=list)  # registration scopes
    cookies: list[str] = field(default_factory=list)  # names, HttpOnly ones included

    def is_empty(self) -> bool:
        return not any((self.indexed_db, self.local_storage, self.session_storage, self.caches,
                        self.service_workers, self.cookies))


_READ_STORAGE = """async () => {
  const entries = (store) => Object.fromEntries(Array.from({length: store.length}, (_, i) => store.key(i))
                                                  .map((key) => [key, store.getItem(key)]));
  const databases = indexedDB.databases ? await indexedDB.databases() : [];
  const workers = navigator.serviceWorker ? await navigator.serviceWorker.getRegistrations() : [];
  return {
    indexed_db: databases.map((db) => db.name).sort(),
    local_storage: entries(localStorage),
    session_storage: entries(sessionStorage),
    caches: self.caches ? (await caches.keys()).sort() : [],
    service_workers: workers.map((registration) => registration.scope).sort(),
  };
}"""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def origin_storage(page: Any, origin: str | None = None) -> OriginStorage:
    """Everything `page`'s browser context keeps for `origin` (default: the page's current origin).

    If the page is elsewhere (after a logout that left the site, a quick exit), it is taken back to a script-free
    path of the origin first: the same tab, so its sessionStorage for the origin is read too."""
    origin = origin or _origin(page.url)
    if _origin(page.url) != origin:
        page.goto(origin + PROBE_PATH)
    found = page.evaluate(_READ_STORAGE)
    cookies = sorted(cookie["name"] for cookie in page.context.cookies([origin + "/"]))
    return OriginStorage(cookies=cookies, **found)


def axe_source() -> str:
    if not AXE_SCRIPT.is_file():
        raise HarnessError(f"{AXE_SCRIPT} is missing: run `npm ci` in {HERE} (scripts/counselkit test does)")
    return AXE_SCRIPT.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Violation:
    rule: str  # axe rule id, such as image-alt
    impact: str
    help: str
    targets: list[str]  # CSS selectors of the offending elements

    def __str__(self) -> str:
        return f"{self.impact}: {self.rule} ({self.help}) at {', '.join(self.targets)}"


def axe_violations(page: Any, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[Violation]:
    """axe-core's violations of the page as it is now, with one of `impacts` (default: serious and critical).

    axe is evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern: the
    page is checked under its real CSP (no 'unsafe-inline' or 'unsafe-eval' needed)."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(axe_source())
    results = page.evaluate("async () => JSON.stringify(await axe.run(document, {resultTypes: ['violations']}))")
    return [
        Violation(item["id"], item["impact"], item["help"], [" ".join(map(str, n["target"])) for n in item["nodes"]])
        for item in json.loads(results)["violations"]
        if item["impact"] in impacts
    ]


def screenshot(page: Any, path: Path | str) -> Path:
    """A full-page PNG of `page` at `path` (directories made as needed)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target


# The web app's policy in the lab and production (templates/nginx/security-headers.conf.j2) is at least this strict:
# a page that works under it works without inline script.
TEST_PAGE_CSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"


@contextmanager
def serve_directory(directory: Path, headers: dict[str, str] | None = None,
                    tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 (a free port) with `headers` on every answer; yields the base URL.

    http://127.0.0.1 is a secure context for the browser, so Cache Storage and service workers work there.
    `tls` (certificate file, key file): HTTPS instead, as the lab's nginx serves it (the URL then says https)."""
    extra = {"Content-Security-Policy": TEST_PAGE_CSP, "Cache-Control": "no-store", **(headers or {})}

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def end_headers(self) -> None:
            for name, value in extra.items():
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # quiet test output; failures show in the assertions

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
