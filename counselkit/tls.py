"""Certificates issued from the own CA (`tls: internal`): one per tenant domain, kept in the secrets store.

Issued on the control machine, stored as tenants.<slug>.tls_internal (private key PEM + certificate PEM), so a
re-run re-uses them and reports no change. Re-issued only when missing, for another name, from another CA, or
within policy.TLS_RENEW_DAYS of expiry.
"""

from __future__ import annotations

import datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import layout, policy
from .ca import split_pem
from .plan import Plan


class Store(Protocol):
    def get(self, ref: str) -> str: ...
    def has(self, ref: str) -> bool: ...
    def set(self, ref: str, value: str) -> None: ...


def tenant_tls_ref(slug: str) -> str:
    return layout.tenant_secret_ref(slug, layout.TENANT_TLS_SECRET)


def issue(ca_bundle: str, domain: str, now: datetime.datetime | None = None) -> str:
    """PEM private key + PEM server certificate for `domain`, signed by the CA in `ca_bundle`."""
    ca_key_pem, ca_cert_pem = split_pem(ca_bundle)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = now or datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=policy.TLS_CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem.decode() + certificate.public_bytes(serialization.Encoding.PEM).decode()


def needs_issue(bundle: str | None, ca_bundle: str, domain: str, now: datetime.datetime | None = None) -> bool:
    if not bundle:
        return True
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        _, cert_pem = split_pem(bundle)
        certificate = x509.load_pem_x509_certificate(cert_pem)
        ca_cert = x509.load_pem_x509_certificate(split_pem(ca_bundle)[1])
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        certificate.verify_directly_issued_by(ca_cert)
    except Exception:  # unreadable, wrong CA, no SAN: issue a fresh one
        return True
    remaining = certificate.not_valid_after_utc - now
    return names != [domain] or remaining < datetime.timedelta(days=policy.TLS_RENEW_DAYS)


def due_certificates(store: Store, plan: Plan) -> list[str]:
    """References of the tenant certificates that are missing or due (read-only; `counselkit prepare` issues them)."""
    if plan.platform.tls != "internal":
        return []
    ca_ref = plan.platform_secrets["internal_ca"]
    if not store.has(ca_ref):  # no CA yet: every certificate is still to be issued
        return [tenant_tls_ref(t.slug) for t in plan.tenants()]
    ca_bundle = store.get(ca_ref)
    due = []
    for tenant in plan.tenants():
        ref = tenant_tls_ref(tenant.slug)
        if needs_issue(store.get(ref) if store.has(ref) else None, ca_bundle, tenant.domain):
            due.append(ref)
    return due


def ensure_certificates(store: Store, plan: Plan) -> list[str]:
    """Issue what is missing or due for every tenant of a `tls: internal` platform; returns the refs set."""
    due = set(due_certificates(store, plan))
    if not due:
        return []
    ca_bundle = store.get(plan.platform_secrets["internal_ca"])
    changed = []
    for tenant in plan.tenants():
        ref = tenant_tls_ref(tenant.slug)
        if ref in due:
            store.set(ref, issue(ca_bundle, tenant.domain))
            changed.append(ref)
    return changed


def split_bundle(bundle: str) -> tuple[str, str]:
    """(key PEM, certificate PEM) as text."""
    key, cert = split_pem(bundle)
    return key.decode(), cert.decode()
