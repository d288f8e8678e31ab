"""counselkit.render: the template contract built from the plan, and counselkit.tls (internal CA issuing)."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography import x509

from counselkit import layout, policy, render, tls
from counselkit.ca import new_certificate_authority
from counselkit.plan import load_plan
from tests.support import example_data, tenant_entry, write_yaml


@pytest.fixture()
def plan(tmp_path):
    data = example_data()
    data["platform"]["hosts"].append({"name": "node2", "address": "203.0.113.11"})
    for entry, host in zip(data["tenants"], ["node1", "node1", "node2"]):
        entry["host"] = host
    data["tenants"].append(tenant_entry("caritas-flensburg", host="node2", federation=True, federation_domains=["beratung.partner.example"]))
    return load_plan(write_yaml(tmp_path / "tenants.yaml", data))


def test_host_vars_are_plain_data_without_secret_values(plan):
    vars = render.host_vars(plan, "node1")
    text = json.dumps(vars)  # plain JSON types only: any engine can carry it
    assert [t["slug"] for t in vars["tenants"]] == ["awo-kiel", "diakonie-luebeck"]
    assert "tenants.awo-kiel.synapse_db_password" in text  # references, never values
    assert vars["synapse_unit"]["unix_user"] == "mx-%i"
    assert vars["synapse_unit"]["config_dir"] == f"{layout.SYNAPSE_CONFIG_ROOT}/%i"


def test_tenant_vars_come_from_the_plan_and_layout(plan):
    tenant = next(t for t in render.host_vars(plan, "node2")["tenants"] if t["slug"] == "caritas-flensburg")
    planned = plan.tenant("caritas-flensburg")
    assert tenant["synapse_port"] == planned.synapse_port
    assert tenant["domain"] == "caritas-flensburg.beratung.example.org"
    assert tenant["federation"] is True
    assert tenant["site"] == layout.tenant_site("caritas-flensburg")
    assert tenant["tls"] == layout.tenant_tls_paths("caritas-flensburg", planned.domain, "internal")
    assert tenant["tls_ref"] == "tenants.caritas-flensburg.tls_internal"


def test_context_resolves_only_synapse_secrets(plan):
    asked = []

    def secret(ref):
        asked.append(ref)
        return "value-of-" + ref

    context = render.host_context(render.host_vars(plan, "node1"), secret)
    values = context["tenants"][0]["secret_values"]
    assert set(values) == set(layout.SYNAPSE_SECRETS)
    assert values["form_secret"] == "value-of-tenants.awo-kiel.form_secret"
    assert not any(ref.endswith(("restic_password", "oidc_client_secret")) for ref in asked)


def test_every_template_renders_for_every_host(plan):
    for host in plan.hosts:
        context = render.host_context(render.host_vars(plan, host), None)
        files = render.render_host_files(context)
        for tenant in context["tenants"]:
            files.update(render.render_tenant_files(context, tenant["slug"]))
        assert all(content.endswith("\n") for content in files.values())
        assert layout.SYNAPSE_UNIT_PATH in files


def test_missing_variable_is_an_error_not_an_empty_line(plan):
    context = render.host_context(render.host_vars(plan, "node1"), None)
    del context["public_tcp_ports"]
    with pytest.raises(Exception, match="public_tcp_ports"):
        render.render("base/nftables.conf.j2", context)


def test_issued_certificate_chains_to_the_ca_and_names_the_domain():
    ca = new_certificate_authority()
    bundle = tls.issue(ca, "awo-kiel.beratung.example.org")
    key_pem, cert_pem = tls.split_bundle(bundle)
    assert "PRIVATE KEY" in key_pem
    certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(tls.split_pem(ca)[1]))
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["awo-kiel.beratung.example.org"]
    assert not tls.needs_issue(bundle, ca, "awo-kiel.beratung.example.org")


def test_reissue_for_other_name_other_ca_or_near_expiry():
    ca = new_certificate_authority()
    bundle = tls.issue(ca, "a.example.org")
    assert tls.needs_issue(None, ca, "a.example.org")
    assert tls.needs_issue(bundle, ca, "b.example.org")
    assert tls.needs_issue(bundle, new_certificate_authority(), "a.example.org")
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=policy.TLS_CERT_DAYS - 10)
    assert tls.needs_issue(bundle, ca, "a.example.org", now=later)


class FakeStore:
    def __init__(self, values):
        self.values = dict(values)

    def get(self, ref):
        return self.values[ref]

    def has(self, ref):
        return ref in self.values

    def set(self, ref, value):
        self.values[ref] = value


def test_ensure_certificates_issues_once(plan):
    store = FakeStore({"platform.internal_ca": new_certificate_authority()})
    first = tls.ensure_certificates(store, plan)
    assert sorted(first) == sorted(f"tenants.{t.slug}.tls_internal" for t in plan.tenants())
    assert tls.ensure_certificates(store, plan) == []
