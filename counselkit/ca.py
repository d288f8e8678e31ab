"""The own certificate authority for `tls: internal` (lab, intranet): made once, kept in the secrets store."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_VALIDITY_DAYS = 3650
CA_COMMON_NAME = "counselkit internal CA"


def name_constraints(permitted_domains: Sequence[str]) -> x509.NameConstraints:
    """Only DNS names at or below the platform's domains, and no IP address at all: a stolen CA key cannot make a
    certificate that the hosts (which trust this CA system-wide) accept for any other site. Critical, as RFC 5280
    asks; the empty IPv4/IPv6 ranges exclude every address."""
    return x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(domain) for domain in permitted_domains],
        excluded_subtrees=[x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")), x509.IPAddress(ipaddress.ip_network("::/0"))],
    )


def new_certificate_authority(permitted_domains: Sequence[str] = ()) -> str:
    """PEM of a new EC P-256 private key followed by its self-signed CA certificate, name-constrained to
    `permitted_domains` (tenants.yaml platform.domain) when given."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if permitted_domains:
        builder = builder.add_extension(name_constraints(permitted_domains), critical=True)
    certificate = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem.decode() + certificate.public_bytes(serialization.Encoding.PEM).decode()


def split_pem(bundle: str) -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) from a bundle made by new_certificate_authority()."""
    marker = "-----BEGIN CERTIFICATE-----"
    index = bundle.index(marker)
    return bundle[:index].encode(), bundle[index:].encode()
