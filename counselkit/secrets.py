"""The secrets store: one ansible-vault encrypted YAML file that both engines can read.

Secrets are generated here once, never overwritten, never printed. Ansible reads the same file with
`include_vars` (top-level variable `counselkit_secrets`) and the same vault password file.
"""

from __future__ import annotations

import os
import secrets as random_source
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import layout
from .plan import Plan
from .problems import whole_file_problem
from .ca import new_certificate_authority

TOP_KEY = "counselkit_secrets"
PASSWORD_ENV = "COUNSELKIT_VAULT_PASSWORD"
PASSWORD_FILE_ENV = "COUNSELKIT_VAULT_PASSWORD_FILE"


class SecretsError(Exception):
    """A problem with the secrets store that the operator must fix (no secret value is ever in the text)."""


def vault_password() -> bytes:
    path = os.environ.get(PASSWORD_FILE_ENV)
    if path:
        try:
            password = Path(path).read_bytes().strip()
        except OSError as exc:
            raise SecretsError(f"cannot read the vault password file named by {PASSWORD_FILE_ENV}: {exc.strerror}") from None
    else:
        password = os.environ.get(PASSWORD_ENV, "").encode()
    if not password:
        raise SecretsError(f"no vault password: set {PASSWORD_FILE_ENV} to a file holding it (or {PASSWORD_ENV})")
    return password


def _vault(password: bytes) -> Any:
    # Imported here: ansible is heavy and only commands that touch secrets need it.
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password))])


def generate(kind: str, domain: str | None = None) -> str:
    """A new secret of `kind`; a CA is limited to the platform's `domain` (X.509 name constraints)."""
    if kind == "token":
        return random_source.token_urlsafe(32)
    if kind == "password":
        return random_source.token_urlsafe(24)
    if kind == "ca":
        return new_certificate_authority(permitted_domains=[domain] if domain else [])
    raise ValueError(f"unknown secret kind {kind!r}")


def wanted_secrets(plan: Plan) -> Iterator[tuple[str, str]]:
    """(reference, kind) of every secret the plan needs that counselkit can make itself."""
    for name, kind in layout.PLATFORM_SECRETS.items():
        yield layout.platform_secret_ref(name), kind
    for tenant in plan.tenants():
        for name, kind in layout.TENANT_SECRETS.items():
            yield layout.tenant_secret_ref(tenant.slug, name), kind


class SecretStore:
    def __init__(self, path: Path, password: bytes, data: dict[str, Any]) -> None:
        self.path = path
        self._password = password
        self._data = data

    @classmethod
    def open(cls, tenants_file: Path | str, secrets_file: str | None = None) -> "SecretStore":
        """Open the store named by platform.secrets_file (relative to tenants.yaml); an absent file is empty."""
        tenants_file = Path(tenants_file)
        if secrets_file is None:
            from .load import load_inventory

            secrets_file = load_inventory(tenants_file).platform.secrets_file
        path = (tenants_file.parent / secrets_file).resolve()
        password = vault_password()
        if not path.exists():
            return cls(path, password, {})
        return cls(path, password, cls._decrypt(path, password))

    @staticmethod
    def _decrypt(path: Path, password: bytes) -> dict[str, Any]:
        from ansible.errors import AnsibleError
        from ruamel.yaml import YAML

        try:
            plain = _vault(password).decrypt(path.read_bytes())
        except AnsibleError:
            raise SecretsError(f"{path}: cannot decrypt: wrong vault password, or not an ansible-vault file") from None
        body = YAML(typ="safe").load(plain) or {}
        data = body.get(TOP_KEY) if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise whole_file_problem(path, f"decrypted, but it holds no '{TOP_KEY}' mapping")
        return data

    def get(self, ref: str) -> str:
        node: Any = self._data
        for part in ref.split("."):
            if not isinstance(node, dict) or part not in node:
                raise SecretsError(f"secret '{ref}' is missing from {self.path}; run `counselkit secrets ensure` (or `secrets set` for provider credentials)")
            node = node[part]
        return str(node)

    def has(self, ref: str) -> bool:
        try:
            self.get(ref)
            return True
        except SecretsError:
            return False

    def set(self, ref: str, value: str) -> None:
        node = self._data
        *parents, leaf = ref.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    def refs(self) -> list[str]:
        found: list[str] = []

        def walk(node: Any, prefix: str) -> None:
            for key, value in node.items():
                ref = f"{prefix}.{key}" if prefix else str(key)
                walk(value, ref) if isinstance(value, dict) else found.append(ref)

        walk(self._data, "")
        return sorted(found)

    def ensure(self, plan: Plan) -> list[str]:
        """Generate what is missing; return the references created (existing secrets are never replaced)."""
        created = []
        for ref, kind in wanted_secrets(plan):
            if not self.has(ref):
                self.set(ref, generate(kind, plan.platform.domain))
                created.append(ref)
        return created

    def save(self) -> None:
        from io import StringIO

        from ruamel.yaml import YAML

        buffer = StringIO()
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        yaml.dump({TOP_KEY: self._data}, buffer)
        encrypted = _vault(self._password).encrypt(buffer.getvalue().encode())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(encrypted)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
