"""What is running: per tenant, the Synapse unit's state on its host and whether its HTTPS endpoint answers."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from .plan import Plan, TenantPlan

PROBE_PATH = "/_matrix/client/versions"
RunOnHost = Callable[[str, str], tuple[int, str]]  # (host name, shell command) -> (exit status, stdout)


@dataclass(frozen=True)
class TenantStatus:
    slug: str
    host: str
    url: str
    unit_state: str
    https: str  # "ok (Matrix versions r0.6.1 … v1.x)" or what went wrong

    @property
    def healthy(self) -> bool:
        return self.unit_state == "active" and self.https.startswith("ok")


def collect(plan: Plan, run: RunOnHost, address_of: Callable[[str], str], ca_pem: str | None) -> list[TenantStatus]:
    rows = []
    for host in plan.hosts:
        states = _unit_states(host.name, [t.unit for t in host.tenants], run)
        for tenant in host.tenants:
            https = probe_https(address_of(host.name), tenant.domain, ca_pem)
            rows.append(TenantStatus(tenant.slug, host.name, tenant.url, states.get(tenant.unit, "unknown"), https))
    return rows


def _unit_states(host: str, units: list[str], run: RunOnHost) -> dict[str, str]:
    if not units:
        return {}
    status, output = run(host, "systemctl is-active " + " ".join(units))
    if status not in (0, 3) and not output.strip():  # 3: some unit inactive — still a valid answer
        return {unit: f"unreachable (ssh exit {status})" for unit in units}
    return dict(zip(units, output.split()))


def probe_https(address: str, domain: str, ca_pem: str | None, timeout: float = 10) -> str:
    """GET the Matrix versions endpoint over TLS with SNI = domain, trusting `ca_pem` (or the system store)."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    request = f"GET {PROBE_PATH} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection((address, 443), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=domain) as tls:
                tls.sendall(request)
                response = b""
                while chunk := tls.recv(65536):
                    response += chunk
    except ssl.SSLCertVerificationError as exc:
        return f"TLS certificate not trusted ({exc.verify_message})"
    except (OSError, ssl.SSLError) as exc:
        return f"no answer ({exc.__class__.__name__}: {exc})"
    head, _, body = response.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 200 " not in status_line + " ":
        return f"HTTP error: {status_line}"
    try:
        versions = json.loads(_dechunk(head, body))["versions"]
    except (ValueError, KeyError, TypeError):
        return "answered, but not with Matrix client versions"
    return f"ok (Matrix {versions[0]} … {versions[-1]})"


def _dechunk(head: bytes, body: bytes) -> bytes:
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def table(rows: list[TenantStatus]) -> str:
    header = ("TENANT", "HOST", "URL", "SYNAPSE", "HTTPS")
    cells = [header] + [(r.slug, r.host, r.url, r.unit_state, r.https) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells)


def tenant_lines(tenants: list[TenantPlan]) -> list[str]:
    return [f"{t.slug}: {t.url}" for t in tenants]
