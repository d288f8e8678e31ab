"""Generated files for Keycloak and Synapse: keycloak.conf, env file, systemd unit, Synapse OIDC block, theme."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from counselkit import layout
from counselkit.keycloak import artifact, render
from counselkit.model.platform import Artifact
from counselkit.plan import load_plan
from tests.support import REPO, example_data, write_yaml


@pytest.fixture
def plan(tmp_path: Path):
    return load_plan(write_yaml(tmp_path / "tenants.yaml", example_data()))


def conf_options(text: str) -> dict[str, str]:
    options = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert key not in options, f"{key} set twice"
            options[key] = value
    return options


# Options of Keycloak 26 (https://www.keycloak.org/server/all-config) that keycloak.conf may use.
KNOWN_OPTIONS = {
    "db", "db-url-host", "db-url-port", "db-url-database", "db-username", "cache", "http-enabled", "http-host",
    "http-port", "http-relative-path", "proxy-headers", "proxy-trusted-addresses", "hostname-strict",
    "health-enabled", "metrics-enabled", "http-management-port", "log", "log-console-output", "log-level",
}


def test_keycloak_conf(plan) -> None:
    options = conf_options(render.keycloak_conf(plan, "26.4.7"))
    assert set(options) <= KNOWN_OPTIONS
    assert options["db"] == "postgres" and options["db-url-database"] == layout.KEYCLOAK_DB
    assert options["http-host"] == "127.0.0.1" and options["http-port"] == str(plan.keycloak_http_port)
    assert options["http-management-port"] == str(plan.keycloak_management_port)
    assert options["http-relative-path"] == "/auth"
    assert options["proxy-headers"] == "xforwarded"
    assert options["health-enabled"] == options["metrics-enabled"] == "true"
    assert options["cache"] == "local"
    assert "db-password" not in options and "password" not in render.keycloak_conf(plan, "26.4.7").lower().replace(
        "kc_db_password", "")


def test_env_file_holds_the_db_secret_and_refuses_unsafe_values() -> None:
    text = render.env_file("db-pass_123456")
    assert "KC_DB_PASSWORD=db-pass_123456" in text
    with pytest.raises(ValueError):
        render.env_file("has space and $dollar")


def test_bootstrap_admin_password_is_only_in_the_first_start_file() -> None:
    # issue 13 (low): keycloak.env kept the bootstrap admin password after the first start.
    assert "BOOTSTRAP" not in render.env_file("db-pass_123456")
    text = render.bootstrap_env_file("admin-pass_123456")
    assert f"KC_BOOTSTRAP_ADMIN_USERNAME={layout.KEYCLOAK_ADMIN_USER}" in text
    assert "KC_BOOTSTRAP_ADMIN_PASSWORD=admin-pass_123456" in text and "KC_DB_PASSWORD" not in text
    with pytest.raises(ValueError):
        render.bootstrap_env_file("has space and $dollar")
    # The unit reads it optionally ("-"): after the deploy deleted it, Keycloak starts with keycloak.env alone.
    unit = render.unit_file("26.4.7").splitlines()
    assert f"EnvironmentFile={layout.KEYCLOAK_ENV_FILE}" in unit
    assert f"EnvironmentFile=-{layout.KEYCLOAK_BOOTSTRAP_ENV_FILE}" in unit
    assert layout.KEYCLOAK_BOOTSTRAP_ENV_FILE.startswith(layout.KEYCLOAK_CONFIG_DIR + "/")


def test_deploy_writes_the_bootstrap_file_only_before_the_stamp_and_removes_it_after_health() -> None:
    source = (REPO / "deploy" / "keycloak.py").read_text()
    install = source[source.index("def install("):source.index("def _ssh_options(")]
    write = install.index('f.dest != bootstrap["file"]')
    assert 'first_start = host.get_fact(File, path=bootstrap["stamp"]) is None' in install[:write]
    health, removed = install.index("wait until healthy"), install.index("bootstrap admin password removed")
    assert health < removed < install.index('path=bootstrap["stamp"], present=True')
    role = (REPO / "roles" / "keycloak" / "tasks" / "main.yml").read_text()
    assert "when: item.dest != keycloak_bootstrap.file or not keycloak_bootstrap_stamp.stat.exists" in role
    # the secrets' values only in the no_log task of the sensitive files
    assert "admin_password" not in role[role.index("Keycloak.conf and the systemd unit"):role.index("Environment and bootstrap")]
    from counselkit.components.keycloak import keycloak
    from counselkit.plan import load_plan
    from counselkit.render import host_vars

    plan = load_plan(REPO / "tenants.yaml")
    spec = keycloak(host_vars(plan, plan.hosts[0]))
    [bootstrap] = [f for f in spec.files if f.dest == spec.layout["bootstrap"]["file"]]
    assert bootstrap.template == "keycloak/keycloak-bootstrap.env.j2" and bootstrap.sensitive


def test_unit_file_is_sandboxed_and_runs_optimized() -> None:
    unit = render.unit_file("26.4.7")
    lines = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert lines["User"] == layout.KEYCLOAK_USER
    assert lines["ExecStart"] == f"{layout.KEYCLOAK_CURRENT}/bin/kc.sh --config-file={layout.KEYCLOAK_CONF} start --optimized"
    assert [v for k, v in (line.split("=", 1) for line in unit.splitlines() if line.startswith("EnvironmentFile="))] == [
        layout.KEYCLOAK_ENV_FILE, f"-{layout.KEYCLOAK_BOOTSTRAP_ENV_FILE}"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                       "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictNamespaces": "yes",
                       "ReadWritePaths": layout.KEYCLOAK_DATA_DIR, "SystemCallFilter": "@system-service"}.items():
        assert lines[key] == value, key
    assert "MemoryDenyWriteExecute" not in lines  # breaks the JVM's JIT
    assert lines["Environment"].startswith('"') and lines["Environment"].endswith('"')  # one variable with spaces
    assert "PASSWORD" not in unit


def test_synapse_oidc_block(plan) -> None:
    tenant = plan.tenant("awo-kiel")
    config = yaml.safe_load(render.synapse_oidc(plan, tenant, "the-client-secret"))
    assert config["password_config"] == {"enabled": False}
    assert config["enable_registration"] is False
    [provider] = config["oidc_providers"]
    assert provider["issuer"] == f"https://{tenant.domain}/auth/realms/{tenant.keycloak_realm}"
    assert provider["authorization_endpoint"].startswith(provider["issuer"] + "/protocol/openid-connect/auth")
    loopback = f"http://127.0.0.1:{plan.keycloak_http_port}/auth/realms/{tenant.keycloak_realm}/protocol/openid-connect/"
    assert provider["token_endpoint"] == loopback + "token"
    assert provider["jwks_uri"] == loopback + "certs"
    assert provider["client_id"] == tenant.oidc_client_id and provider["client_secret"] == "the-client-secret"
    assert provider["discover"] is False and provider["allow_existing_users"] is False
    assert provider["user_mapping_provider"]["config"]["localpart_template"] == "{{ user.preferred_username }}"
    assert re.fullmatch(r"[a-z0-9_.-]+", provider["idp_id"])


def test_each_tenant_trusts_only_its_own_realm(plan) -> None:
    configs = {t.slug: yaml.safe_load(render.synapse_oidc(plan, t, f"secret-{t.slug}"))["oidc_providers"] for t in plan.tenants()}
    for slug, providers in configs.items():
        assert len(providers) == 1
        assert providers[0]["issuer"].endswith(f"/realms/{slug}")
        assert all(f"/realms/{slug}/" in providers[0][k] for k in ("authorization_endpoint", "token_endpoint", "jwks_uri"))


def test_theme_carries_branding(plan) -> None:
    tenant = plan.tenant("awo-kiel")
    files = render.theme_files(tenant)
    css = files["counselkit-awo-kiel/login/resources/css/counselkit.css"]
    assert tenant.tenant.branding.primary_color in css and tenant.tenant.branding.secondary_color in css
    props = files["counselkit-awo-kiel/login/theme.properties"]
    assert "parent=keycloak" in props and "css/counselkit.css" in props


def _artifact(data: bytes, version: str = "26.4.7") -> Artifact:
    return Artifact(version=version, url=f"https://github.com/keycloak/keycloak/releases/download/{version}/keycloak-{version}.tar.gz",
                    sha256=hashlib.sha256(data).hexdigest())


def test_artifact_from_local_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keycloak-26.4.7.tar.gz").write_bytes(b"release")
    monkeypatch.setenv("COUNSELKIT_ARTIFACTS", str(tmp_path))
    assert artifact.fetch(_artifact(b"release")) == tmp_path / "keycloak-26.4.7.tar.gz"
    with pytest.raises(artifact.ArtifactError, match="SHA-256"):
        artifact.fetch(_artifact(b"other bytes"))
    with pytest.raises(artifact.ArtifactError, match="does not hold keycloak-26.5.0.tar.gz"):
        artifact.fetch(_artifact(b"release", "26.5.0"))
    with pytest.raises(artifact.ArtifactError, match="platform.artifacts.keycloak is not set"):
        artifact.fetch(None)


def test_artifact_without_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COUNSELKIT_ARTIFACTS", raising=False)
    monkeypatch.setattr(artifact, "CACHE_DIR", tmp_path / "cache")
    with pytest.raises(artifact.ArtifactError, match="set COUNSELKIT_ARTIFACTS"):
        artifact.fetch(_artifact(b"x"), allow_download=False)


def test_database_sql_holds_the_scram_verifier_not_the_password() -> None:
    from counselkit import layout
    from counselkit.pgscram import verifier_matches
    from deploy.keycloak import _database_sql

    password = "Kc-db-pass_word0123456789"
    sql = _database_sql(password)
    assert password not in sql
    verifier = sql.split("PASSWORD '", 1)[1].split("'", 1)[0]
    assert verifier.startswith("SCRAM-SHA-256$") and verifier_matches(verifier, password)
    assert _database_sql(password) == sql  # deterministic: a re-run uploads nothing
    assert f"ALTER ROLE {layout.KEYCLOAK_DB_USER} WITH LOGIN" in sql
