"""The per-tenant config.json of the web app: from tenants.yaml and the plan, public data only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from counselkit import policy
from counselkit.plan import load_plan
from counselkit.webapp.config import API_BASE, consent_version, tenant_logo_file, tenant_web_config
from tests.support import KEYCLOAK_PIN, REPO, example_data, png_bytes, write_yaml


def config_for(tmp_path: Path, data: dict[str, Any], slug: str = "awo-kiel") -> dict[str, Any]:
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    return tenant_web_config(plan, plan.tenant(slug))


def test_config_carries_the_centres_entry(tmp_path: Path) -> None:
    config = config_for(tmp_path, example_data(), "diakonie-luebeck")
    assert config["name"] == "Diakonisches Werk Lübeck – Suchtberatung" == config["full_name"]
    assert config["topics"] == ["Alkohol", "Medikamente", "Glücksspiel", "Angehörige"]
    assert config["opening_hours"] == "Mo–Do 9–16 Uhr, Fr 9–13 Uhr"
    assert config["absence_message"] == "Wir antworten in der Regel innerhalb von zwei Werktagen."
    assert config["colors"] == {"primary": "#5a2c83", "on_primary": "#ffffff", "secondary": "#f5f7fa", "text": "#1d1d1f"}
    assert config["imprint_url"] == "https://www.diakonie-luebeck.example/impressum"
    assert config["privacy_url"] == "https://www.diakonie-luebeck.example/datenschutz"
    assert (config["terms_url"], config["logo_url"]) == (None, None)
    assert config["homeserver_url"] == "https://diakonie-luebeck.beratung.example.org"
    assert config["server_name"] == "diakonie-luebeck.beratung.example.org"
    assert config["api_base"] == "/_counselkit/v1"


def test_defaults_fill_a_minimal_entry(tmp_path: Path) -> None:
    config = config_for(tmp_path, example_data(), "skf-husum")
    assert config["topics"] == policy.COUNSELLING_DEFAULTS["topics"]
    assert config["opening_hours"] == policy.COUNSELLING_DEFAULTS["opening_hours"]
    assert config["absence_message"] is None


def test_display_name_and_logo(tmp_path: Path) -> None:
    data = example_data()
    data["tenants"][0]["branding"]["logo"] = "logos/AWO.PNG"
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "AWO.PNG").write_bytes(png_bytes())
    config = config_for(tmp_path, data)
    assert config["name"] == "AWO Kiel" and config["full_name"] == "AWO Beratungsstelle Kiel"
    assert config["logo_url"] == "/branding/logo.png"
    plan = load_plan(tmp_path / "tenants.yaml")
    assert tenant_logo_file(plan.tenant("awo-kiel"), tmp_path) == ((tmp_path / "logos" / "AWO.PNG").resolve(),
                                                                   "branding/logo.png")
    assert tenant_logo_file(plan.tenant("skf-husum"), tmp_path) is None
    # the logo is copied into the web root (plan.source_dir: next to tenants.yaml) and served there by nginx
    from counselkit import render

    host_vars = render.host_vars(plan, plan.tenant("awo-kiel").host)
    awo = next(t for t in host_vars["tenants"] if t["slug"] == "awo-kiel")
    assert awo["logo"] == {"src": str((tmp_path / "logos" / "AWO.PNG").resolve()),
                           "dest": f"{awo['web_root']}/branding/logo.png"}
    context = render.host_context(host_vars, lambda ref: f"secret:{ref}")
    sites = {t["slug"]: render.render_tenant_files(context, t["slug"])[t["site"]] for t in host_vars["tenants"]}
    assert "location = /branding/logo.png {" in sites["awo-kiel"]
    assert not any("/branding/" in site for slug, site in sites.items() if slug != "awo-kiel")


def test_counsellors_log_in_by_sso_only_where_keycloak_is_configured(tmp_path: Path) -> None:
    lab = config_for(tmp_path, example_data())
    assert lab["login"] == {"help_seeker": "password", "counsellor": "password", "sso_idp_id": None}
    data = example_data()
    data["platform"]["artifacts"] = {"keycloak": dict(KEYCLOAK_PIN)}
    production = config_for(tmp_path, data)
    assert production["login"] == {"help_seeker": "password", "counsellor": "sso", "sso_idp_id": "oidc-keycloak"}


def test_config_holds_no_secret_and_is_json(tmp_path: Path) -> None:
    data = example_data()
    data["platform"]["artifacts"] = {"keycloak": dict(KEYCLOAK_PIN)}
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    for tenant in plan.tenants():
        text = json.dumps(tenant_web_config(plan, tenant))
        for reference in tenant.secrets.values():  # secret names and references: nothing of the secrets file
            assert reference not in text
        assert "secret" not in text.lower()


def test_consent_version_fits_the_module_and_follows_the_privacy_url() -> None:
    sys.path.insert(0, str(REPO / "synapse_module"))
    try:
        from counselkit_synapse import logic
    finally:
        sys.path.remove(str(REPO / "synapse_module"))
    first, second = consent_version("https://a.example/datenschutz"), consent_version("https://a.example/dsgvo")
    assert first != second and len(first) <= logic.CONSENT_MAX
    assert API_BASE == logic.PREFIX  # the app calls the module's API where the module serves it
