"""Checks of TLS and HTTP of each tenant vhost."""

from __future__ import annotations

import datetime
from typing import Any

from .. import netprobe
from ..context import CheckContext, Finding, verdict
from .registry import check, per_tenant


@check("tls_protocols", "each tenant vhost: TLS 1.2/1.3 only, no TLS 1.0/1.1, no weak TLS 1.2 suites")
def tls_protocols(ctx: CheckContext) -> Finding:
    expected = "TLS 1.0 and 1.1 refused; TLS 1.2 accepted with an AEAD suite; CBC/RSA-kx suites refused"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        address, issues = ctx.target.address, []
        for old in ("TLSv1", "TLSv1.1"):
            shake = netprobe.handshake(address, netprobe.HTTPS_PORT, tenant.domain, old)
            if shake.ok:
                issues.append(f"accepts {old} ({shake.cipher})")
        modern = netprobe.handshake(address, netprobe.HTTPS_PORT, tenant.domain, "TLSv1.2")
        if not modern.ok:
            issues.append(f"TLS 1.2 handshake failed: {modern.error}")
        elif not any(x in modern.cipher for x in ("GCM", "CHACHA20")):
            issues.append(f"TLS 1.2 negotiates non-AEAD {modern.cipher}")
        weak = netprobe.handshake(address, netprobe.HTTPS_PORT, tenant.domain, "TLSv1.2", ciphers=netprobe.WEAK_TLS12_CIPHERS)
        if weak.ok:
            issues.append(f"accepts weak TLS 1.2 suite {weak.cipher}")
        best = netprobe.handshake(address, netprobe.HTTPS_PORT, tenant.domain)
        seen[tenant.slug] = f"TLS 1.2 {modern.cipher}; best {best.version} {best.cipher}"
        return issues

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("tls_certificate", "each tenant vhost presents a current certificate for its domain (key ≥ 2048 RSA / 256 EC)")
def tls_certificate(ctx: CheckContext) -> Finding:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    expected = "certificate valid now, SAN contains the tenant domain, RSA ≥ 2048 or EC ≥ 256 bit" + (
        f", chain verifies against {ctx.target.ca_file}" if ctx.target.ca_file else "")
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        shake = netprobe.handshake(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, ca_file=ctx.target.ca_file)
        if not shake.ok or not shake.certificate:
            return [f"no certificate: {shake.error}"]
        cert = x509.load_der_x509_certificate(shake.certificate)
        issues = []
        now = datetime.datetime.now(datetime.timezone.utc)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            issues.append(f"not valid now ({cert.not_valid_before_utc:%Y-%m-%d} – {cert.not_valid_after_utc:%Y-%m-%d})")
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            names = []
        if tenant.domain not in names:
            issues.append(f"SAN {names} lacks {tenant.domain}")
        key = cert.public_key()
        bits = key.key_size if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)) else 0
        minimum = 2048 if isinstance(key, rsa.RSAPublicKey) else 256
        if bits < minimum:
            issues.append(f"{type(key).__name__} {bits} bit")
        seen[tenant.slug] = (f"issuer {cert.issuer.rfc4514_string()}, valid until {cert.not_valid_after_utc:%Y-%m-%d}, "
                             f"{bits}-bit key" + ("" if ctx.target.ca_file else "; trust chain not verified (no CA file given)"))
        return issues

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


HSTS_MIN_AGE = 15552000  # 180 days


@check("http_security_headers", "each tenant vhost sends HSTS, nosniff, frame and referrer policies")
def http_security_headers(ctx: CheckContext) -> Finding:
    expected = (f"Strict-Transport-Security max-age ≥ {HSTS_MIN_AGE}; X-Content-Type-Options nosniff; X-Frame-Options "
                "or CSP frame-ancestors; Referrer-Policy")
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        answer = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, "/")
        seen[tenant.slug] = netprobe.describe(answer)
        if not answer.ok:
            return [seen[tenant.slug]]
        issues = []
        hsts = answer.header("strict-transport-security") or ""
        age = next((int(p.split("=", 1)[1]) for p in hsts.replace(" ", "").split(";")
                    if p.lower().startswith("max-age=") and p.split("=", 1)[1].isdigit()), 0)
        if age < HSTS_MIN_AGE:
            issues.append(f"HSTS {hsts or 'missing'}")
        if (answer.header("x-content-type-options") or "").lower() != "nosniff":
            issues.append("X-Content-Type-Options missing")
        if not answer.header("x-frame-options") and "frame-ancestors" not in (answer.header("content-security-policy") or ""):
            issues.append("no X-Frame-Options / frame-ancestors")
        if not answer.header("referrer-policy"):
            issues.append("Referrer-Policy missing")
        return issues

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("server_version_hidden", "responses and error pages do not reveal the web server's version")
def server_version_hidden(ctx: CheckContext) -> Finding:
    expected = "Server header without a version number; error page without version"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        answer = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, "/counselkit-audit-missing")
        if not answer.ok:
            return [f"no answer: {answer.error}"]
        server = answer.header("server") or "(none)"
        seen[tenant.slug] = f"HTTP {answer.status}, Server: {server}"
        issues = []
        if any(ch.isdigit() for ch in server):
            issues.append(f"Server header {server}")
        body = answer.body.decode("utf-8", "replace")
        if "nginx/" in body:
            issues.append("error page shows the nginx version")
        return issues

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("http_redirects_to_https", "plain HTTP on each tenant domain redirects permanently to HTTPS")
def http_redirects_to_https(ctx: CheckContext) -> Finding:
    expected = "HTTP 301/308 with Location https://<domain>/…"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        answer = netprobe.get(ctx.target.address, netprobe.HTTP_PORT, tenant.domain, "/", tls=False)
        location = answer.header("location") or ""
        seen[tenant.slug] = f"HTTP {answer.status} → {location}" if answer.ok else answer.error
        if not answer.ok:
            return [f"no answer on port {netprobe.HTTP_PORT}: {answer.error}"]
        if answer.status not in {301, 308} or not location.startswith(f"https://{tenant.domain}"):
            return [f"HTTP {answer.status}, Location {location or '-'}"]
        return []

    return per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


UNKNOWN_NAME = "counselkit-audit.invalid"


@check("default_vhost_catch_all", "a request for an unknown name gets no tenant content (catch-all default vhost)")
def default_vhost_catch_all(ctx: CheckContext) -> Finding:
    expected = "unknown SNI/Host: TLS handshake refused, connection closed, or 4xx — never 2xx/3xx to a tenant"
    address = ctx.target.address
    problems, found = [], []
    answer = netprobe.get(address, netprobe.HTTPS_PORT, UNKNOWN_NAME, "/")
    found.append(f"https Host {UNKNOWN_NAME}: {netprobe.describe(answer) if answer.ok else 'refused (' + answer.error + ')'}")
    if answer.ok and answer.status < 400:
        problems.append(f"https for an unknown name answers {answer.status}")
    plain = netprobe.get(address, netprobe.HTTP_PORT, UNKNOWN_NAME, "/", tls=False)
    found.append(f"http Host {UNKNOWN_NAME}: {netprobe.describe(plain) if plain.ok else 'closed (' + plain.error + ')'}")
    if plain.ok and (plain.status < 300 or any(t.domain in (plain.header("location") or "") for t in ctx.tenants)):
        problems.append(f"http for an unknown name answers {plain.status} {plain.header('location') or ''}")
    if not answer.ok and not plain.ok and "refused" in answer.error.lower() and "refused" in plain.error.lower():
        problems.append("nothing listens on 80/443: no web server")
    return verdict(problems, expected, "\n".join(found))
