"""Network probes from the auditing machine: TLS handshakes and HTTP GET/HEAD against a host's public ports.

They look at a host the way a client does and send only GET/HEAD requests, so they change nothing.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from counselkit import layout

HTTP_PORT, HTTPS_PORT = 80, 443
assert HTTP_PORT in layout.PUBLIC_TCP_PORTS and HTTPS_PORT in layout.PUBLIC_TCP_PORTS
TIMEOUT = 8.0

TLS_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
# TLS 1.2 suites without forward secrecy or with CBC/SHA-1: a hardened server refuses all of them.
WEAK_TLS12_CIPHERS = "AES128-SHA:AES256-SHA:AES128-SHA256:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA:DES-CBC3-SHA"


@dataclass
class Handshake:
    ok: bool
    version: str = ""
    cipher: str = ""
    error: str = ""
    certificate: bytes | None = None


@dataclass
class HttpAnswer:
    ok: bool
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _client_context(version: ssl.TLSVersion | None = None, ciphers: str | None = None,
                    ca_file: Path | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if version is not None:
        with warnings.catch_warnings():  # offering TLS 1.0/1.1 is deprecated — that is the point of the probe
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client *offer* old versions so the server must refuse
    if ciphers:
        context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    return context


def handshake(address: str, port: int, server_name: str, version: str | None = None,
              ciphers: str | None = None, ca_file: Path | None = None) -> Handshake:
    try:
        context = _client_context(TLS_VERSIONS[version] if version else None, ciphers, ca_file)
    except (ssl.SSLError, ValueError) as exc:
        return Handshake(False, error=f"client cannot offer {version or ciphers}: {exc}")
    try:
        with socket.create_connection((address, port), timeout=TIMEOUT) as raw:
            with context.wrap_socket(raw, server_hostname=server_name) as tls:
                cipher = tls.cipher()
                return Handshake(True, tls.version() or "", cipher[0] if cipher else "", "",
                                 tls.getpeercert(binary_form=True))
    except (OSError, ssl.SSLError) as exc:
        return Handshake(False, error=f"{type(exc).__name__}: {exc}")


def get(address: str, port: int, host_header: str, path: str = "/", tls: bool = True,
        server_name: str | None = None, method: str = "GET", ca_file: Path | None = None,
        max_body: int = 65536) -> HttpAnswer:
    """One HTTP(S) request to address:port with the given Host header (and SNI); redirects are not followed."""
    if method not in {"GET", "HEAD"}:
        raise ValueError("the audit only reads: GET or HEAD")
    try:
        if tls:
            context = _client_context(ca_file=ca_file)
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                address, port, timeout=TIMEOUT, context=context)
            # SNI: http.client uses the connect address; set the name we want explicitly.
            connection._tunnel_host = None  # type: ignore[attr-defined]
            sni = server_name or host_header
            raw = socket.create_connection((address, port), timeout=TIMEOUT)
            connection.sock = context.wrap_socket(raw, server_hostname=sni)
        else:
            connection = http.client.HTTPConnection(address, port, timeout=TIMEOUT)
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host_header)
        connection.putheader("User-Agent", "counselkit-audit")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read(max_body) if method == "GET" else b""
        headers = {k.lower(): v for k, v in response.getheaders()}
        connection.close()
        return HttpAnswer(True, response.status, headers, body)
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        return HttpAnswer(False, error=f"{type(exc).__name__}: {exc}")


def describe(answer: HttpAnswer) -> str:
    if not answer.ok:
        return f"no HTTP answer ({answer.error})"
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(answer.headers.items()))
    return f"HTTP {answer.status}; headers: {shown}"
