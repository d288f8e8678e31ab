"""Write the bad-input corpus: the example tenants.yaml / tenants.lock.json with one hostile change each.

Run from the repository root: `PYTHONPATH=. .venv/bin/python tests/unit/data/bad/make_corpus.py`. It rewrites the *.yaml / *.json files
here and expected.yaml (file -> line, field and words of the message the loader must give). The expected line is
where this script put the change — found by text search, not by running the loader.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parents[3]
EXAMPLE = (REPO / "tenants.yaml").read_text(encoding="utf-8")
LOCK = (REPO / "tenants.lock.json").read_text(encoding="utf-8")
CONTROL = "control characters"  # words of the Text type's message

# name, text to replace (first occurrence), replacement, field, words in the message.
YAML_CASES: list[tuple[str, str, str, str, str]] = [
    # 1. free text: control characters, line separators, bidi overrides
    ("name_newline_nginx_directive", "name: AWO Beratungsstelle Kiel",
     'name: "AWO Kiel\\n  access_log /var/www/counselkit/awo-kiel/log.txt;"', "tenants[0].name", "U+000A"),
    ("name_carriage_return", "name: AWO Beratungsstelle Kiel", 'name: "AWO Kiel\\rkey: value"', "tenants[0].name", "U+000D"),
    ("name_nul", "name: AWO Beratungsstelle Kiel", 'name: "AWO\\0Kiel"', "tenants[0].name", "U+0000"),
    ("name_escape", "name: AWO Beratungsstelle Kiel", 'name: "AWO \\e[31mKiel"', "tenants[0].name", "U+001B"),
    ("name_tab", "name: AWO Beratungsstelle Kiel", 'name: "AWO\\tKiel"', "tenants[0].name", "U+0009"),
    ("name_next_line_u0085", "name: AWO Beratungsstelle Kiel", 'name: "AWO\\NKiel"', "tenants[0].name", "U+0085"),
    ("name_line_separator", "name: AWO Beratungsstelle Kiel", 'name: "AWO\\LKiel"', "tenants[0].name", "U+2028"),
    ("name_paragraph_separator", "name: AWO Beratungsstelle Kiel", 'name: "AWO\\PKiel"', "tenants[0].name", "U+2029"),
    ("name_bidi_override", "name: AWO Beratungsstelle Kiel", 'name: "AWO \\u202eleiK"', "tenants[0].name", "U+202E"),
    ("name_bidi_isolate", "name: AWO Beratungsstelle Kiel", 'name: "AWO \\u2066Kiel"', "tenants[0].name", "U+2066"),
    ("name_c1_csi", "name: AWO Beratungsstelle Kiel", 'name: "AWO \\x9bKiel"', "tenants[0].name", "U+009B"),
    ("name_delete", "name: AWO Beratungsstelle Kiel", 'name: "AWO \\x7fKiel"', "tenants[0].name", "U+007F"),
    ("street_newline", "street: Sophienblatt 64", 'street: "Sophienblatt 64\\nInjected: 1"', "tenants[0].billing.address.street", "U+000A"),
    ("city_newline", "city: Kiel}\n      email: buchhaltung", 'city: "Ki\\nel"}\n      email: buchhaltung', "tenants[0].billing.address.city", "U+000A"),
    ("org_admin_name_newline", "name: Birte Jensen", 'name: "Birte\\nJensen"', "tenants[0].admins[0].name", "U+000A"),
    ("cost_centre_cr", 'cost_centre: "4711"', 'cost_centre: "47\\r11"', "tenants[0].billing.cost_centre", "U+000D"),
    ("buyer_reference_newline", "buyer_reference: 04-AWO-KIEL-2026", 'buyer_reference: "04-AWO\\n-KIEL"', "tenants[0].billing.buyer_reference", "U+000A"),
    ("operator_name_nul", "name: Nordlicht Sozial-IT GmbH", 'name: "Nordlicht\\0 GmbH"', "platform.operator.name", "U+0000"),
    ("operator_contact_phone_newline", 'phone: "+49 431 1234560"', 'phone: "+49 431\\n1234560"', "platform.operator.contact.phone", "U+000A"),
    ("operator_register_ls", "commercial_register: Amtsgericht Kiel, HRB 24680", 'commercial_register: "Amtsgericht Kiel\\L HRB 24680"', "platform.operator.commercial_register", "U+2028"),
    ("plan_name_newline", "contract: {start: 2026-01-01, plan: lite}", 'contract: {start: 2026-01-01, plan: "li\\nte"}', "tenants[0].contract.plan", "U+000A"),
    ("ssh_key_comment_second_key", "ssh_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAFJ5DjYiAeNWUDEZ3hZgO1pnAQH+DSbihW2FRGuHUsE anna.admin@nordlicht-sozial-it.example",
     'ssh_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAFJ5DjYiAeNWUDEZ3hZgO1pnAQH+DSbihW2FRGuHUsE anna\\n'
     'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIXB2riavpRsv5OFWUwhFn2jpFhaYbz02EsHqoHsMukB attacker"',
     "platform.admins[0].ssh_key", "U+000A"),
    ("imprint_url_newline", "imprint_url: https://www.awo-kiel.example/impressum", 'imprint_url: "https://www.awo-kiel.example/\\nimpressum"', "tenants[0].branding.imprint_url", "U+000A"),
    ("secrets_file_newline", "  tls: internal", '  secrets_file: "secrets.vault\\nx"\n  tls: internal', "platform.secrets_file", "U+000A"),
    ("counselling_topic_newline", "topics: [Alkohol, Medikamente", 'topics: ["Alko\\nhol", Medikamente',
     "tenants[1].counselling.topics[0]", "U+000A"),
    ("counselling_absence_bidi", "absence_message: Wir antworten in der Regel innerhalb von zwei Werktagen.",
     'absence_message: "\\u202eWir antworten"',
     "tenants[1].counselling.absence_message", "U+202E"),
    ("counselling_opening_hours_nul", "opening_hours: Mo–Do 9–16 Uhr, Fr 9–13 Uhr", 'opening_hours: "Mo\\0Do"',
     "tenants[1].counselling.opening_hours", "U+0000"),
    ("counselling_retention_string", "retention_days: 180", 'retention_days: "180"',
     "tenants[1].counselling.retention_days", "integer"),
    # 2. e-mail addresses: nothing a shell or template treats specially
    ("acme_email_command_substitution", "  tls: internal", '  tls: acme\n  acme_email: "$(reboot)@nordlicht.example"', "platform.acme_email", "before '@'"),
    ("acme_email_backtick", "  tls: internal", '  tls: acme\n  acme_email: "`id`@nordlicht.example"', "platform.acme_email", "before '@'"),
    ("acme_email_semicolon", "  tls: internal", '  tls: acme\n  acme_email: "a;reboot@nordlicht.example"', "platform.acme_email", "before '@'"),
    ("acme_email_brace", "  tls: internal", '  tls: acme\n  acme_email: "${IFS}@nordlicht.example"', "platform.acme_email", "before '@'"),
    ("contact_email_pipe", "email: rechnung@nordlicht-sozial-it.example", 'email: "a|b@nordlicht-sozial-it.example"', "platform.operator.contact.email", "before '@'"),
    ("billing_email_ampersand", "email: buchhaltung@awo-kiel.example", 'email: "a&b@awo-kiel.example"', "tenants[0].billing.email", "before '@'"),
    ("admin_email_quote", "email: b.jensen@awo-kiel.example", """email: "b'jensen@awo-kiel.example\"""", "tenants[0].admins[0].email", "before '@'"),
    ("admin_email_double_quote", "email: b.jensen@awo-kiel.example", 'email: "\\"b\\"@awo-kiel.example"', "tenants[0].admins[0].email", "before '@'"),
    ("admin_email_angle", "email: b.jensen@awo-kiel.example", 'email: "<b>@awo-kiel.example"', "tenants[0].admins[0].email", "before '@'"),
    ("admin_email_space", "email: b.jensen@awo-kiel.example", 'email: "b jensen@awo-kiel.example"', "tenants[0].admins[0].email", "before '@'"),
    ("email_domain_space", "email: b.jensen@awo-kiel.example", 'email: "b.jensen@awo kiel.example"', "tenants[0].admins[0].email", "domain"),
    # 4. host addresses and names
    ("host_address_octal", "address: 203.0.113.10", "address: 0203.0.113.010", "platform.hosts[0].address", "canonical dotted-decimal"),
    ("host_address_hex", "address: 203.0.113.10", "address: 0xcb.0.113.10", "platform.hosts[0].address", "canonical dotted-decimal"),
    ("host_address_short", "address: 203.0.113.10", 'address: "203.7254"', "platform.hosts[0].address", "canonical dotted-decimal"),
    ("host_address_integer", "address: 203.0.113.10", 'address: "3405803786"', "platform.hosts[0].address", "canonical dotted-decimal"),
    ("host_address_zone_index", "address: 203.0.113.10", 'address: "fe80::1%eth0"', "platform.hosts[0].address", "zone"),
    ("host_name_non_ascii", "name: node1, address", "name: nöde1, address", "platform.hosts[0].name", "RFC 1123"),
    ("host_name_underscore", "name: node1, address", "name: node_1, address", "platform.hosts[0].name", "RFC 1123"),
    # 5. low: domains, duplicate hosts, strict numbers, reserved logins, VAT IDs
    ("domain_arabic_indic_digits", "domain: beratung.example.org", "domain: beratung\u0661.example.org", "platform.domain", "ASCII"),
    ("domain_fullwidth_digits", "domain: beratung.example.org", "domain: \uff11\uff12.example.org", "platform.domain", "ASCII"),
    ("domain_umlaut", "domain: beratung.example.org", "domain: beratüng.example.org", "platform.domain", "xn--"),
    ("domain_numeric_tld", "domain: beratung.example.org", "domain: beratung.example.123", "platform.domain", "last label"),
    ("duplicate_host_ipv4_mapped", "    - {name: node1, address: 203.0.113.10, capacity_tenants: 40}",
     '    - {name: node1, address: 203.0.113.10, capacity_tenants: 40}\n    - {name: node2, address: "::ffff:203.0.113.10"}',
     "platform.hosts[1].address", "duplicate host address"),
    ("duplicate_host_ipv6_spelling", "    - {name: node1, address: 203.0.113.10, capacity_tenants: 40}",
     '    - {name: node1, address: "2001:db8::1", capacity_tenants: 40}\n    - {name: node2, address: "2001:DB8:0:0::1"}',
     "platform.hosts[1].address", "duplicate host address"),
    ("seats_true", "seats: 12", "seats: true", "tenants[0].seats", "valid integer"),
    ("seats_fraction", "seats: 12", "seats: 12.5", "tenants[0].seats", "valid integer"),
    ("seats_string", "seats: 12", 'seats: "12"', "tenants[0].seats", "valid integer"),
    ("capacity_true", "capacity_tenants: 40", "capacity_tenants: true", "platform.hosts[0].capacity_tenants", "valid integer"),
    ("retention_float", "retention: {daily: 7,", "retention: {daily: 7.0,", "platform.backup.retention.daily", "valid integer"),
    ("payment_terms_bool", "payment_terms_days: 14", "payment_terms_days: false", "platform.pricing.payment_terms_days", "valid integer"),
    ("smtp_starttls_number", "  tls: internal", "  smtp: {host: mail.example.org, from_address: a@example.org, starttls: 1}\n  tls: internal",
     "platform.smtp.starttls", "valid boolean"),
    ("smtp_port_true", "  tls: internal", "  smtp: {host: mail.example.org, from_address: a@example.org, port: true}\n  tls: internal",
     "platform.smtp.port", "valid integer"),
    ("admin_name_keycloak", "- name: anna", "- name: keycloak", "platform.admins[0].name", "system or tenant account"),
    ("admin_name_postgres", "- name: anna", "- name: postgres", "platform.admins[0].name", "system or tenant account"),
    ("admin_name_root", "- name: anna", "- name: root", "platform.admins[0].name", "system or tenant account"),
    ("admin_name_www_data", "- name: anna", "- name: www-data", "platform.admins[0].name", "system or tenant account"),
    ("admin_name_tenant_user", "- name: anna", "- name: mx-awo-kiel", "platform.admins[0].name", "system or tenant account"),
    ("admin_name_admin_group", "- name: anna", "- name: counselkit-admins", "platform.admins[0].name", "system or tenant account"),
    ("admin_name_systemd", "- name: anna", "- name: systemd-network", "platform.admins[0].name", "system or tenant account"),
    ("vat_id_bad_check_digit", "vat_id: DE136695976", "vat_id: DE123456789", "platform.operator.vat_id", "check digit"),
    ("vat_id_too_short", "vat_id: DE136695976", "vat_id: DE13669597", "platform.operator.vat_id", "format of a DE"),
    ("vat_id_unknown_prefix", "vat_id: DE136695976", "vat_id: XX136695976", "platform.operator.vat_id", "member state prefix"),
    ("vat_id_greece_gr", "vat_id: DE136695976", "vat_id: GR123456789", "platform.operator.vat_id", "Greece is EL"),
    ("vat_id_french_letters", "vat_id: DE136695976", "vat_id: FRIO123456789", "platform.operator.vat_id", "format of a FR"),
    ("vat_id_junk", "vat_id: DE136695976", 'vat_id: "DE*+.*+.*+"', "platform.operator.vat_id", "format of a DE"),
]

# name, text to replace in tenants.lock.json, replacement, field, words.
LOCK_CASES: list[tuple[str, str, str, str, str]] = [
    ("port_true", '"port": 8101', '"port": true', "tenants.awo-kiel.port", "whole number"),
    ("port_fraction", '"port": 8101', '"port": 8101.9', "tenants.awo-kiel.port", "whole number"),
    ("port_exponent", '"port": 8101', '"port": 8.101e3', "tenants.awo-kiel.port", "whole number"),
    ("port_string", '"port": 8101', '"port": "8101"', "tenants.awo-kiel.port", "whole number"),
    ("port_null", '"port": 8101', '"port": null', "tenants.awo-kiel.port", "whole number"),
    ("port_out_of_range", '"port": 8101', '"port": 70000', "tenants.awo-kiel.port", "outside the tenant range"),
    ("port_negative", '"port": 8101', '"port": -8101', "tenants.awo-kiel.port", "outside the tenant range"),
    ("port_reserved_postgres", '"port": 8101', '"port": 5432', "tenants.awo-kiel.port", "reserved for PostgreSQL"),
    ("port_reserved_keycloak", '"port": 8101', '"port": 8080', "tenants.awo-kiel.port", "reserved for Keycloak HTTP"),
    ("port_reserved_ssh", '"port": 8101', '"port": 22', "tenants.awo-kiel.port", "reserved for public"),
    ("port_nan", '"port": 8101', '"port": NaN', "", "invalid JSON"),
    ("duplicate_port", '"port": 8102', '"port": 8101', "tenants.diakonie-luebeck.port", "already pinned to tenant 'awo-kiel'"),
    ("duplicate_tenant", '"skf-husum": {', '"awo-kiel": {', "tenants.awo-kiel", "duplicate key 'awo-kiel'"),
    ("bad_slug", '"skf-husum": {', '"SKF_Husum": {', "tenants.SKF_Husum", "not a valid slug"),
    ("bad_slug_newline", '"skf-husum": {', '"skf\\nvalid": {', "tenants.skf\nvalid", "not a valid slug"),
    ("unknown_host", '"host": "node1",\n      "port": 8103', '"host": "node9",\n      "port": 8103', "tenants.skf-husum.host", "not in platform.hosts"),
    ("unknown_host_removed_tenant", '"skf-husum": {\n      "host": "node1"', '"gone-away": {\n      "host": "node7"', "tenants.gone-away.host", "unknown host 'node7'"),
    ("host_not_a_name", '"host": "node1",\n      "port": 8103', '"host": "node1; rm -rf /",\n      "port": 8103', "tenants.skf-husum.host", "not a valid host name"),
    ("host_number", '"host": "node1",\n      "port": 8103', '"host": 1,\n      "port": 8103', "tenants.skf-husum.host", "host name in double quotes"),
    ("unknown_entry_key", '"port": 8103', '"port": 8103,\n      "weight": 1', "tenants.skf-husum.weight", "unknown key 'weight'"),
    ("missing_port", '"skf-husum": {\n      "host": "node1",\n      "port": 8103', '"skf-husum": {\n      "host": "node1"',
     "tenants.skf-husum", "'port' is missing"),
    ("unknown_top_key", '"version": 1,', '"version": 1,\n  "hosts": {},', "hosts", "unknown key 'hosts'"),
    ("version_true", '"version": 1,', '"version": true,', "version", "unsupported lock version"),
    ("version_two", '"version": 1,', '"version": 2,', "version", "unsupported lock version"),
    ("trailing_comma", '"port": 8103\n    }', '"port": 8103, }', "", "invalid JSON"),
    ("tenants_double_brace", '"tenants": {', '"tenants": {{', "", "invalid JSON"),
]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def write_case(name: str, base: str, old: str, new: str, suffix: str) -> tuple[str, int]:
    if old not in base:
        raise SystemExit(f"{name}: '{old}' not in the example")
    text = base.replace(old, new, 1)
    file = f"{name}.{suffix}"
    (HERE / file).write_text(text, encoding="utf-8")
    start = base.index(old)
    # The line of the changed value: the replacement's line holding the field's last key.
    return file, text[:start].count("\n") + 1


def alias_bomb(max_nodes: int) -> dict[str, object]:
    """'Billion laughs': nine lines of nine aliases each, 9**9 strings once expanded; refused where it first
    passes max_nodes (the loader's MAX_NODES), i.e. at the first line whose list expands beyond it."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    sizes = [1 + 9]
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
        sizes.append(1 + 9 * sizes[-1])
    (HERE / "alias_bomb.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    running, line = 1, 0
    for line, size in enumerate(sizes, start=1):  # the mapping node plus, per line, a key and its list
        running += 1 + size
        if running > max_nodes:
            break
    return {"line": line, "field": "", "words": "expands to more than"}


def main() -> None:
    from counselkit.yamlsource import MAX_NODES

    expected: dict[str, dict[str, object]] = {"alias_bomb.yaml": alias_bomb(MAX_NODES)}
    for name, old, new, field, words in YAML_CASES:
        file, line = write_case(name, EXAMPLE, old, new, "yaml")
        offset = _offset_in_replacement(new, field)
        expected[file] = {"line": line + offset, "field": field, "words": words}
    for name, old, new, field, words in LOCK_CASES:
        file, line = write_case(name, LOCK, old, new, "json")
        offset = _offset_in_replacement(new, field)
        expected[file] = {"line": line + offset, "field": field, "words": words}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _offset_in_replacement(new: str, field: str) -> int:
    """Which line of a multi-line replacement holds the field's last key (0 for one-line replacements)."""
    lines = new.split("\n")
    key = field.rsplit(".", 1)[-1].split("[")[0] if field else ""
    found = [index for index, line in enumerate(lines) if key and (f"{key}:" in line or f'"{key}"' in line)]
    return found[-1] if found else 0


if __name__ == "__main__":
    main()
