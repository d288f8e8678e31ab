"""Synapse's email section and egress for the counsellor notices: platform.smtp, escaped, exactly one relay allowed."""

from __future__ import annotations

import email.header
import email.utils
import re

import pytest
from ruamel.yaml import YAML

from counselkit import escape, render
from counselkit.plan import load_plan
from tests.support import example_data, tenant_entry, write_yaml

HOSTILE_NAME = 'Beratung "Nord", <evil@x.example> %(app)s %s 100% Ü\\'


def relay_context(tmp_path, name=HOSTILE_NAME, **smtp):
    data = example_data()
    data["tenants"][0]["name"] = name
    data["tenants"].append(tenant_entry("caritas-flensburg", federation=True, federation_domains=["b.partner.example"]))
    data["platform"]["smtp"] = {"host": "10.248.0.1", "port": 2525, "from_address": "noreply@beratung.example.org",
                                "starttls": False, **smtp}
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    return render.host_context(render.host_vars(plan, "node1"), lambda ref: f'pa"ss\\{ref}')


def tenant_files(ctx, slug):
    tenant = next(t for t in ctx["tenants"] if t["slug"] == slug)
    files = render.render_tenant_files(ctx, slug)
    return YAML(typ="safe").load(files[tenant["homeserver_yaml"]]), files[tenant["egress_rules"]], tenant


def test_email_section_from_platform_smtp_with_the_tenant_name(tmp_path):
    ctx = relay_context(tmp_path, user="relay-user")
    slug = ctx["tenants"][0]["slug"]
    hs, _, _ = tenant_files(ctx, slug)
    mail = hs["email"]
    assert (mail["smtp_host"], mail["smtp_port"], mail["smtp_user"]) == ("10.248.0.1", 2525, "relay-user")
    assert mail["smtp_pass"] == 'pa"ss\\platform.smtp_password'
    assert (mail["force_tls"], mail["enable_tls"], mail["require_transport_security"]) == (False, False, False)
    assert mail["enable_notifs"] is False and mail["notif_for_new_users"] is False  # Synapse's own mails quote messages
    # What Synapse does with notif_from (synapse/handlers/send_email.py): % {"app": app_name}, then the From header.
    from_header = mail["notif_from"] % {"app": mail["app_name"]}
    name, address = email.utils.parseaddr(from_header)
    assert address == "noreply@beratung.example.org"
    assert str(email.header.make_header(email.header.decode_header(name))) == HOSTILE_NAME


def test_tls_modes_and_no_user(tmp_path):
    hs, _, _ = tenant_files(relay_context(tmp_path, name="AWO", starttls=True), "awo-kiel")
    assert (hs["email"]["enable_tls"], hs["email"]["require_transport_security"], hs["email"]["force_tls"]) == \
        (True, True, False)
    assert "smtp_user" not in hs["email"] and "smtp_pass" not in hs["email"]
    hs, _, _ = tenant_files(relay_context(tmp_path, name="AWO", ssl=True, port=465), "awo-kiel")
    assert (hs["email"]["force_tls"], hs["email"]["enable_tls"]) == (True, True)


@pytest.mark.parametrize("slug", ["awo-kiel", "caritas-flensburg"])  # federation off and on
def test_egress_allows_exactly_the_relay(tmp_path, slug):
    _, egress, tenant = tenant_files(relay_context(tmp_path, name="AWO"), slug)
    accepts = [line for line in egress.splitlines() if line.endswith(" accept") and not line.startswith("#")]
    relay = f'meta skuid "{tenant["unix_user"]}" ip daddr 10.248.0.1 tcp dport 2525 accept'
    assert relay in accepts
    first_reject = next(i for i, line in enumerate(egress.splitlines()) if "reject" in line)
    assert egress.splitlines().index(relay) < first_reject  # before the internal-network / loopback-only reject
    assert [a for a in accepts if a != relay] == ([] if slug == "awo-kiel" else [a for a in accepts if "dport 53" in a])


def test_ipv6_relay(tmp_path):
    _, egress, _ = tenant_files(relay_context(tmp_path, name="AWO", host="2001:db8::25"), "awo-kiel")
    assert re.search(r" ip6 daddr 2001:db8::25 tcp dport 2525 accept$", egress, re.M)


def test_no_relay_no_email_and_no_egress(tmp_path):
    data = example_data()
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    ctx = render.host_context(render.host_vars(plan, "node1"), None)
    hs, egress, _ = tenant_files(ctx, "awo-kiel")
    assert "email" not in hs and "dport 2525" not in egress and " accept" not in egress


def test_relay_by_name_sends_no_notices(tmp_path):
    # A name could not be pinned in the egress rules (and would need DNS): no email section, no hole.
    hs, egress, _ = tenant_files(relay_context(tmp_path, name="AWO", host="smtp.example.org"), "awo-kiel")
    assert "email" not in hs and " accept" not in egress


@pytest.mark.parametrize("bad", ["a\nBcc: x@y.example", "a\rb", "a\u2028b"])
def test_mail_from_refuses_header_breaks(bad):
    with pytest.raises(escape.UnsafeValue):
        escape.synapse_mail_from(bad, "noreply@example.org")


def test_unit_address_filter_lets_only_the_relay_out_too(tmp_path):
    ctx = relay_context(tmp_path, name="AWO")
    tenant = next(t for t in ctx["tenants"] if t["slug"] == "awo-kiel")
    dropin = render.render_tenant_files(ctx, "awo-kiel")[tenant["unit_dropin"]]
    assert "IPAddressDeny=any\nIPAddressAllow=localhost 10.248.0.1\n" in dropin


@pytest.mark.parametrize(("address", "char"), [("no%reply@example.org", "%"), ('a"b@example.org', '"'),
                                               ("a@exa mple.org", " "), ("noreply", "@")])
def test_mail_from_refuses_addresses_that_are_not_plain(address, char):
    with pytest.raises(escape.UnsafeValue) as refused:
        escape.synapse_mail_from("AWO", address)
    assert refused.value.char == char
