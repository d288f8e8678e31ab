"""The secrets store: generated once, never overwritten, never in clear, readable by Ansible too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from counselkit import layout
from counselkit.ca import split_pem
from counselkit.plan import load_plan
from counselkit.secrets import PASSWORD_FILE_ENV, SecretsError, SecretStore

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "vault-password"
    path.write_text("correct horse battery staple\n")
    monkeypatch.setenv(PASSWORD_FILE_ENV, str(path))
    return path


def test_ensure_creates_all_then_nothing(example_copy: Path, password_file: Path) -> None:
    plan = load_plan(example_copy)
    store = SecretStore.open(example_copy)
    created = store.ensure(plan)
    assert len(created) == len(layout.PLATFORM_SECRETS) + len(plan.tenants()) * len(layout.TENANT_SECRETS)
    assert "tenants.skf-husum.oidc_client_secret" in created
    store.save()
    again = SecretStore.open(example_copy)
    assert again.ensure(plan) == []
    assert again.get("tenants.awo-kiel.restic_password") == store.get("tenants.awo-kiel.restic_password")


def test_file_is_vault_and_holds_no_plaintext(example_copy: Path, password_file: Path) -> None:
    store = SecretStore.open(example_copy)
    store.ensure(load_plan(example_copy))
    store.save()
    raw = store.path.read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert store.get("tenants.skf-husum.form_secret").encode() not in raw
    assert b"awo-kiel" not in raw
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"


def test_ansible_vault_reads_the_same_file(example_copy: Path, password_file: Path) -> None:
    store = SecretStore.open(example_copy)
    store.ensure(load_plan(example_copy))
    store.save()
    shown = subprocess.run([str(VENV_BIN / "ansible-vault"), "view", "--vault-password-file", str(password_file), str(store.path)],
                           capture_output=True, text=True, check=True).stdout
    assert store.get("platform.keycloak_db_password") in shown


def test_wrong_password_is_a_clear_error(example_copy: Path, password_file: Path) -> None:
    store = SecretStore.open(example_copy)
    store.ensure(load_plan(example_copy))
    store.save()
    password_file.write_text("wrong\n")
    with pytest.raises(SecretsError, match="wrong vault password"):
        SecretStore.open(example_copy)


def test_missing_password_is_a_clear_error(example_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_FILE_ENV, raising=False)
    monkeypatch.delenv("COUNSELKIT_VAULT_PASSWORD", raising=False)
    with pytest.raises(SecretsError, match="no vault password"):
        SecretStore.open(example_copy)


def test_internal_ca_is_a_ca(example_copy: Path, password_file: Path) -> None:
    from cryptography import x509

    store = SecretStore.open(example_copy)
    store.ensure(load_plan(example_copy))
    key_pem, cert_pem = split_pem(store.get("platform.internal_ca"))
    certificate = x509.load_pem_x509_certificate(cert_pem)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE KEY" in key_pem


def test_internal_ca_is_name_constrained_to_the_platform_domain(example_copy: Path, password_file: Path) -> None:
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    from counselkit.tls import issue

    plan = load_plan(example_copy)
    store = SecretStore.open(example_copy)
    store.ensure(plan)
    ca_bundle = store.get("platform.internal_ca")
    ca_cert = x509.load_pem_x509_certificate(split_pem(ca_bundle)[1])
    constraints = ca_cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName(plan.platform.domain)]

    def verify(domain: str) -> None:
        leaf = x509.load_pem_x509_certificate(split_pem(issue(ca_bundle, domain))[1])
        verifier = PolicyBuilder().store(Store([ca_cert])).build_server_verifier(x509.DNSName(domain))
        verifier.verify(leaf, [])

    verify(plan.tenants()[0].domain)  # a tenant's certificate is accepted
    with pytest.raises(VerificationError):
        verify("login.bank.example")  # the CA's key cannot vouch for any other site
