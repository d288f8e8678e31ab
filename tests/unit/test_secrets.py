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
    path.chmod(0o600)
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


# --- `secrets set`: only references of the plan, never over an existing value without force (issue 13.9) -------

def _saved_store(example_copy: Path) -> SecretStore:
    store = SecretStore.open(example_copy)
    store.ensure(load_plan(example_copy))
    store.save()
    return SecretStore.open(example_copy)


def test_set_refuses_a_group_reference_and_keeps_every_platform_secret(example_copy: Path, password_file: Path) -> None:
    store = _saved_store(example_copy)
    before = store.get("platform.internal_ca")
    with pytest.raises(SecretsError, match=r"'platform' is a group of \d+ secrets, not one secret; name one"):
        store.set_known(load_plan(example_copy), "platform", "x")
    assert store.get("platform.internal_ca") == before
    assert store.has("platform.keycloak_admin_password")


def test_set_refuses_unknown_references_with_a_suggestion(example_copy: Path, password_file: Path) -> None:
    store = _saved_store(example_copy)
    plan = load_plan(example_copy)
    with pytest.raises(SecretsError, match="not a secret of this tenants.yaml; did you mean platform.backup_s3_access_key"):
        store.set_known(plan, "platform.backup_s3_acces_key", "AKIA")
    for ref in ("tenants.no-such-centre.restic_password", "platform.backup_s3_access_key.x", "tenants", ""):
        with pytest.raises(SecretsError):
            store.set_known(plan, ref, "AKIA")
    assert not store.has("platform.backup_s3_acces_key")


def test_set_never_replaces_without_force(example_copy: Path, password_file: Path) -> None:
    store = _saved_store(example_copy)
    plan = load_plan(example_copy)
    ref = "tenants.awo-kiel.restic_password"
    old = store.get(ref)
    with pytest.raises(SecretsError, match="already set .*generated by counselkit.*backup repository can no longer be opened.*--force"):
        store.set_known(plan, ref, "new-value")
    assert store.get(ref) == old
    assert store.set_known(plan, ref, "new-value", force=True) is True
    assert store.get(ref) == "new-value"


def test_set_stores_provider_credentials_once(example_copy: Path, password_file: Path) -> None:
    store = _saved_store(example_copy)
    plan = load_plan(example_copy)
    assert store.set_known(plan, "platform.backup_s3_access_key", "AKIA1") is False
    with pytest.raises(SecretsError, match="already set \\(from your provider\\); nothing was changed. Use --force"):
        store.set_known(plan, "platform.backup_s3_access_key", "AKIA2")
    assert store.set_known(plan, "platform.backup_s3_access_key", "AKIA2", force=True) is True
    assert store.get("platform.backup_s3_access_key") == "AKIA2"


def test_set_refuses_the_ca_and_derived_certificates(example_copy: Path, password_file: Path) -> None:
    store = _saved_store(example_copy)
    plan = load_plan(example_copy)
    with pytest.raises(SecretsError, match="platform.internal_ca cannot be set: it is a private key and certificate"):
        store.set_known(plan, "platform.internal_ca", "x", force=True)
    with pytest.raises(SecretsError, match="tenants.awo-kiel.tls_internal cannot be set: it is issued from"):
        store.set_known(plan, "tenants.awo-kiel.tls_internal", "x", force=True)


def test_known_secrets_are_what_the_deploys_read(example_copy: Path) -> None:
    from counselkit.secrets import PROVIDED, known_secrets

    plan = load_plan(example_copy)
    known = known_secrets(plan)
    for tenant in plan.tenants():
        assert set(tenant.secrets.values()) <= set(known)
    assert set(plan.platform_secrets.values()) <= set(known)
    assert {r for r, kind in known.items() if kind == PROVIDED} == {"platform.backup_s3_access_key", "platform.backup_s3_secret_key"}


def test_cli_set_of_a_group_is_refused_and_the_file_unchanged(example_copy: Path, password_file: Path) -> None:
    store = _saved_store(example_copy)
    raw = store.path.read_bytes()
    env = {"COUNSELKIT_VAULT_PASSWORD_FILE": str(password_file), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "counselkit.cli", "secrets", "set", "platform", "--file", str(example_copy)],
                            input="one-value\n", capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2])
    assert result.returncode == 1
    assert result.stderr.startswith("error: 'platform' is a group of") and "Traceback" not in result.stderr
    assert "one-value" not in result.stdout + result.stderr
    assert store.path.read_bytes() == raw
    again = subprocess.run([sys.executable, "-m", "counselkit.cli", "secrets", "set", "tenants.awo-kiel.form_secret",
                            "--file", str(example_copy)], input="v\n", capture_output=True, text=True, env=env,
                           cwd=Path(__file__).parents[2])
    assert again.returncode == 1 and "--force" in again.stderr
    assert store.path.read_bytes() == raw


# --- the vault password file: yours and private, or refused (issue 13, low) ------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_password_file_readable_by_others_is_refused(example_copy: Path, password_file: Path, mode: int) -> None:
    password_file.chmod(mode)
    with pytest.raises(SecretsError, match=f"accessible by group or others \\(mode {mode:04o}\\); refusing.*chmod 600"):
        SecretStore.open(example_copy)


def test_password_file_of_another_user_is_refused(example_copy: Path, password_file: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from counselkit import vaultpass

    owner = password_file.stat().st_uid
    monkeypatch.setattr(vaultpass.os, "geteuid", lambda: owner + 1)
    with pytest.raises(SecretsError, match=f"belongs to uid {owner}, not to you"):
        SecretStore.open(example_copy)


def test_private_password_file_is_used(example_copy: Path, password_file: Path) -> None:
    from counselkit.vaultpass import vault_password

    assert vault_password({PASSWORD_FILE_ENV: str(password_file)}) == b"correct horse battery staple"


CLIENT = Path(__file__).parents[2] / "inventories" / "ansible" / "vault-password-client.py"


def test_ansible_client_without_password_fails_instead_of_printing_one() -> None:
    result = subprocess.run(["/usr/bin/python3", str(CLIENT)], capture_output=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"no vault password: neither COUNSELKIT_VAULT_PASSWORD_FILE nor COUNSELKIT_VAULT_PASSWORD is set" in result.stderr


def test_ansible_client_applies_the_same_file_rules(password_file: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", PASSWORD_FILE_ENV: str(password_file)}
    good = subprocess.run(["/usr/bin/python3", str(CLIENT)], capture_output=True, env=env)
    assert good.returncode == 0 and good.stdout == b"correct horse battery staple\n"
    password_file.chmod(0o644)
    bad = subprocess.run(["/usr/bin/python3", str(CLIENT)], capture_output=True, env=env)
    assert bad.returncode == 1 and bad.stdout == b"" and b"chmod 600" in bad.stderr


def test_smtp_password_is_known_only_with_an_smtp_user(tmp_path: Path, password_file: Path) -> None:
    from counselkit.secrets import PROVIDED, known_secrets
    from tests.support import example_data, write_yaml

    data = example_data()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    without = load_plan(write_yaml(tmp_path / "a" / "tenants.yaml", data))
    assert "platform.smtp_password" not in known_secrets(without)
    data["platform"]["smtp"] = {"host": "mail.example.org", "from_address": "noreply@example.org", "user": "mailer"}
    tenants = write_yaml(tmp_path / "b" / "tenants.yaml", data)
    plan = load_plan(tenants)
    assert known_secrets(plan)["platform.smtp_password"] == PROVIDED
    store = SecretStore.open(tenants)
    assert store.set_known(plan, "platform.smtp_password", "mail-pw") is False
