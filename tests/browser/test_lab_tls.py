"""lab_chromium_args: the browser reaches tenants by name at lab addresses and trusts exactly the certificates
that verify against the lab's CA — tried on a local HTTPS server with a CA made by counselkit's own code."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from counselkit.ca import new_certificate_authority, split_pem
from counselkit.tls import issue, split_bundle
from tests.browser.conftest import PAGES
from tests.browser.harness import chromium, lab_chromium_args, new_context, origin_storage, serve_directory

pytestmark = pytest.mark.browser
NAME = "awo-kiel.beratung.example.org"


def write_ca(path: Path) -> Path:
    bundle = new_certificate_authority(["beratung.example.org"])
    path.write_bytes(split_pem(bundle)[1])
    return path


@pytest.fixture(scope="module")
def lab_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(port, CA file) of an HTTPS server for NAME on 127.0.0.1, its certificate from a lab-style CA."""
    directory = tmp_path_factory.mktemp("tls")
    ca_bundle = new_certificate_authority(["beratung.example.org"])
    (directory / "ca.pem").write_bytes(split_pem(ca_bundle)[1])
    key, certificate = split_bundle(issue(ca_bundle, NAME))
    (directory / "cert.pem").write_text(certificate, encoding="utf-8")
    (directory / "key.pem").write_text(key, encoding="utf-8")
    with serve_directory(PAGES, tls=(directory / "cert.pem", directory / "key.pem")) as url:
        yield int(url.rsplit(":", 1)[1]), directory / "ca.pem"


def test_tenant_by_name_is_a_secure_context_with_service_workers(lab_like: tuple[int, Path]) -> None:
    port, ca_file = lab_like
    with chromium(lab_chromium_args({NAME: "127.0.0.1"}, ca_file, port)) as browser:
        context = new_context(browser)
        page = context.new_page()
        page.goto(f"https://{NAME}:{port}/storage.html")
        page.evaluate("() => window.counselkitWritten")
        assert page.evaluate("isSecureContext") is True
        assert origin_storage(page).service_workers == [f"https://{NAME}:{port}/"]
        with pytest.raises(Exception, match="ERR_NAME_NOT_RESOLVED"):  # nothing outside the map is reachable
            page.goto("https://www.google.de/")


def test_a_certificate_from_another_ca_is_not_trusted(lab_like: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = lab_like
    with pytest.raises(ssl.SSLCertVerificationError):
        lab_chromium_args({NAME: "127.0.0.1"}, write_ca(tmp_path / "other-ca.pem"), port)
