"""templates/: what each rendered file promises (hardening, isolation, loopback-only), checked on the text."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from ruamel.yaml import YAML

from counselkit import layout, policy, render
from counselkit.plan import load_plan
from counselkit.problems import InputError
from tests.support import KEYCLOAK_PIN, example_data, tenant_entry, write_yaml


@pytest.fixture()
def context(tmp_path):
    data = example_data()
    data["platform"]["proxy"] = "http://10.248.0.1:8888"
    data["tenants"].append(tenant_entry("caritas-flensburg", federation=True, federation_domains=["beratung.partner.example"]))
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    return render.host_context(render.host_vars(plan, "node1"), lambda ref: f"secret:{ref}")


def files_of(context):
    files = render.render_host_files(context)
    for tenant in context["tenants"]:
        files.update(render.render_tenant_files(context, tenant["slug"]))
    return files


def homeserver(context, slug):
    tenant = next(t for t in context["tenants"] if t["slug"] == slug)
    return YAML(typ="safe").load(render.render_tenant_files(context, slug)[tenant["homeserver_yaml"]])


def directives(text):
    pairs = [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}


def test_templates_use_only_the_contract():
    for path in render.TEMPLATES_DIR.rglob("*.j2"):
        if path.relative_to(render.TEMPLATES_DIR).parts[0] in ("backup", "keycloak"):
            continue  # other components' templates, with their own tests
        text = path.read_text()
        assert not re.search(r"\b(host\.(data|name|fact)|inventory|pyinfra|hostvars|ansible_)\b", text), path


def test_sshd_keys_only_and_modern_algorithms(context):
    d = directives(files_of(context)[layout.SSHD_CONFIG])
    assert d["PasswordAuthentication"] == "no"
    assert d["KbdInteractiveAuthentication"] == "no"
    assert d["PermitRootLogin"] == "prohibit-password"
    assert d["AuthenticationMethods"] == "publickey"
    algorithms = ",".join(d[k] for k in ("KexAlgorithms", "Ciphers", "MACs", "HostKeyAlgorithms"))
    for weak in ("sha1", "cbc", "md5", "diffie-hellman-group1", "diffie-hellman-group14", "ssh-rsa,", "3des", "arcfour"):
        assert weak not in algorithms + ",", weak
    assert all("etm" in mac for mac in d["MACs"].split(","))


def test_nftables_default_deny_with_public_ports_only(context):
    text = files_of(context)[layout.NFTABLES_CONF]
    assert "policy drop;" in text.split("chain input", 1)[1].split("}", 1)[0]
    assert "tcp dport { 22, 80, 443 } ct state new accept" in text
    assert 'iif "lo" accept' in text
    assert len(re.findall(r"dport", text)) == 1


@pytest.mark.skipif(not shutil.which("nft"), reason="nft (package nftables) is not installed on this machine")
def test_nftables_syntax_checks(context, tmp_path):
    rules = tmp_path / "nftables.conf"
    rules.write_text(files_of(context)[layout.NFTABLES_CONF])
    result = subprocess.run(["nft", "-c", "-f", str(rules)], capture_output=True, text=True)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN here: " + result.stderr.strip())
    assert result.returncode == 0, result.stderr


def test_sysctl_split_by_namespace(context):
    files = files_of(context)
    net = directives(files[layout.SYSCTL_NET_FILE])
    kernel = directives(files[layout.SYSCTL_KERNEL_FILE])
    assert all(key.startswith("net.") for key in net)
    assert not any(key.startswith("net.ipv") for key in kernel)
    assert "net.ipv4.tcp_syncookies" in net and "kernel.kptr_restrict" in kernel


def test_audit_rules_cover_identity_sudo_and_config(context):
    text = files_of(context)[layout.AUDIT_RULES]
    for key in ("identity", "sudoers", "sudo", "privilege_escalation", "sshd_config", "counselkit_config", "nginx",
                "postgresql", "time_change"):
        assert f"-k {key}" in text, key


def test_journald_persistent_and_upgrades_security_only(context):
    files = files_of(context)
    assert "Storage=persistent" in files[layout.JOURNALD_DROPIN]
    assert 'Unattended-Upgrade "1"' in files[layout.APT_AUTO_UPGRADES]
    assert "label=Debian-Security" in files[layout.APT_UNATTENDED_CONF]


def test_proxy_reaches_apt_and_pip(context):
    files = files_of(context)
    assert 'Acquire::https::Proxy "http://10.248.0.1:8888/";' in files[layout.APT_PROXY_CONF]
    assert "proxy = http://10.248.0.1:8888/" in files[layout.PIP_CONF]
    context["platform"]["proxy"] = None
    assert layout.APT_PROXY_CONF not in render.render_host_files(context)
    assert "proxy" not in render.render_host_files(context)[layout.PIP_CONF].split("]", 1)[1]


def test_postgres_local_scram_and_each_role_its_own_database(context):
    files = files_of(context)
    conf = files[layout.POSTGRES_CONF_DROPIN]
    assert "listen_addresses = 'localhost'" in conf and "password_encryption = 'scram-sha-256'" in conf
    rows = [line.split() for line in files[layout.POSTGRES_HBA].splitlines() if line and not line.startswith("#")]
    assert rows[0] == ["local", "all", "postgres", "peer", f"map={layout.POSTGRES_PEER_MAP}"]
    # The peer map lets the OS users postgres and root (the backup's pg_dump) in as postgres, nobody else.
    ident = [line.split() for line in files[layout.POSTGRES_IDENT].splitlines() if line and not line.startswith("#")]
    assert ident == [[layout.POSTGRES_PEER_MAP, "postgres", "postgres"], [layout.POSTGRES_PEER_MAP, "root", "postgres"]]
    assert rows[-3:] == [["local", "all", "all", "reject"], ["host", "all", "all", "0.0.0.0/0", "reject"],
                         ["host", "all", "all", "::/0", "reject"]]
    for row in rows[1:-3]:
        assert row[0] == "host" and row[1] == row[2] and row[-1] == "scram-sha-256"
        assert row[3] in ("127.0.0.1/32", "::1/128")
    assert {row[1] for row in rows[1:-3]} == {t["db_name"] for t in context["tenants"]}


def test_unit_template_is_sandboxed_and_per_tenant(context):
    unit = files_of(context)[layout.SYNAPSE_UNIT_PATH]
    d = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert d["User"] == "mx-%i" and d["Group"] == "mx-%i"
    for setting, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                           ("ProtectHome", "yes"), ("ReadWritePaths", f"{layout.SYNAPSE_DATA_ROOT}/%i")):
        assert d[setting] == value, setting
    assert f"--config-path={layout.SYNAPSE_CONFIG_ROOT}/%i" in d["ExecStart"]
    assert d["ExecStart"].startswith(f"{layout.SYNAPSE_VENV}/bin/python ")


def test_homeserver_per_tenant_closed_and_loopback(context):
    for tenant in context["tenants"]:
        config = homeserver(context, tenant["slug"])
        assert config["server_name"] == tenant["domain"] == f"{tenant['slug']}.beratung.example.org"
        (listener,) = config["listeners"]
        assert listener["port"] == tenant["synapse_port"] and listener["bind_addresses"] == ["127.0.0.1"]
        assert config["enable_registration"] is False
        assert config["database"]["args"]["dbname"] == tenant["db_name"]
        assert config["database"]["args"]["user"] == tenant["db_user"]
        assert config["database"]["args"]["password"] == f"secret:tenants.{tenant['slug']}.synapse_db_password"
        assert config["media_store_path"] == tenant["media_dir"]
        assert config["signing_key_path"] == tenant["signing_key_path"]
        assert config["retention"]["enabled"] is True
        assert config["rc_login"]["failed_attempts"]["burst_count"] <= 10
        assert "oidc_providers" not in config  # Keycloak seam: only with a keycloak config


def test_federation_off_by_default_on_by_flag(context):
    closed = homeserver(context, "awo-kiel")
    assert closed["federation_domain_whitelist"] == [] and closed["trusted_key_servers"] == []
    assert closed["listeners"][0]["resources"][0]["names"] == ["client"]
    open_ = homeserver(context, "caritas-flensburg")
    assert open_["listeners"][0]["resources"][0]["names"] == ["client", "federation"]


def test_federation_only_with_the_listed_servers_and_no_matrix_org_key_server(context):
    config = homeserver(context, "caritas-flensburg")
    assert config["federation_domain_whitelist"] == ["beratung.partner.example"]
    assert config["trusted_key_servers"] == []
    assert config["allow_profile_lookup_over_federation"] is False


def test_homeserver_keeps_nothing_longer_than_its_purpose(context):
    for tenant in context["tenants"]:
        config = homeserver(context, tenant["slug"])
        retention = config["retention"]
        assert retention["default_policy"]["max_lifetime"] == policy.MESSAGE_RETENTION
        assert retention["allowed_lifetime_max"] == policy.MESSAGE_RETENTION  # no room keeps messages longer
        assert config["media_retention"]["local_media_lifetime"] == policy.MESSAGE_RETENTION
        assert config["user_ips_max_age"] == f"{policy.LOG_RETENTION_DAYS}d"
        assert config["delete_stale_devices_after"] == f"{policy.LOG_RETENTION_DAYS}d"
        assert config["forgotten_room_retention_period"] == config["redaction_retention_period"] == policy.PURGE_GRACE
        assert config["presence"]["enabled"] is False
        assert config["user_directory"]["enabled"] is False
        assert config["push"]["include_content"] is False
        assert config["url_preview_enabled"] is False


def test_homeserver_sessions_expire(context):
    for tenant in context["tenants"]:
        config = homeserver(context, tenant["slug"])
        assert config["session_lifetime"] == policy.SYNAPSE_SESSION_LIFETIME
        # Synapse refuses to start when a token lifetime exceeds session_lifetime; none does.
        assert config["nonrefreshable_access_token_lifetime"] == policy.SYNAPSE_SESSION_LIFETIME
        assert config["refresh_token_lifetime"] == policy.SYNAPSE_SESSION_LIFETIME
        assert config["refreshable_access_token_lifetime"] == policy.SYNAPSE_ACCESS_TOKEN_LIFETIME


def test_synapse_logs_no_per_request_line(context):
    tenant = context["tenants"][0]
    log_config = YAML(typ="safe").load(render.render_tenant_files(context, tenant["slug"])[tenant["log_config"]])
    assert log_config["loggers"]["synapse.access"]["level"] == "WARNING"


def test_ports_are_distinct_per_tenant(context):
    ports = [homeserver(context, t["slug"])["listeners"][0]["port"] for t in context["tenants"]]
    assert len(set(ports)) == len(ports)


def test_nginx_tls_headers_and_no_version(context):
    files = files_of(context)
    main = directives(files[layout.NGINX_CONF].replace("\t", ""))
    assert main["server_tokens"] == "off;"
    assert main["ssl_protocols"] == "TLSv1.2 TLSv1.3;"
    assert all("GCM" in c or "CHACHA20" in c for c in main["ssl_ciphers"].rstrip(";").split(":"))
    headers = files[layout.NGINX_HEADERS_SNIPPET]
    assert "Strict-Transport-Security" in headers and "X-Content-Type-Options" in headers


def test_tenant_vhost_proxies_to_its_own_synapse_only(context):
    for tenant in context["tenants"]:
        site = render.render_tenant_files(context, tenant["slug"])[tenant["site"]]
        assert set(re.findall(r"proxy_pass http://127\.0\.0\.1:(\d+);", site)) == {str(tenant["synapse_port"])}
        assert f"server_name {tenant['domain']};" in site
        assert "/.well-known/matrix/client" in site and "/.well-known/matrix/server" in site
        assert f"ssl_certificate {tenant['tls']['cert']};" in site
        assert "location ^~ /_synapse/admin" in site
        assert ("location ^~ /_matrix/federation" in site) is (not tenant["federation"])


def test_catch_all_answers_nothing(context):
    text = files_of(context)[layout.NGINX_CATCHALL_SITE]
    assert "listen 443 ssl default_server;" in text and "ssl_reject_handshake on;" in text
    assert "return 444;" in text


def test_keycloak_paths_in_tenant_vhost_only_when_keycloak_is_configured(tmp_path):
    data = example_data()
    data["platform"]["admin_networks"] = ["192.0.2.0/24"]
    data["platform"]["artifacts"] = {"keycloak": dict(KEYCLOAK_PIN)}
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    ctx = render.host_context(render.host_vars(plan, "node1"), lambda ref: f"secret:{ref}")
    tenant = ctx["tenants"][0]
    vhost = render.render_tenant_files(ctx, tenant["slug"])[tenant["site"]]
    realm = f"location ^~ {layout.KEYCLOAK_PATH}/realms/{tenant['slug']}/ {{"
    assert realm in vhost and f"proxy_pass http://127.0.0.1:{layout.KEYCLOAK_HTTP_PORT};" in vhost
    admin = vhost.split(f"location ^~ {layout.KEYCLOAK_PATH}/admin/ {{", 1)[1].split("}", 1)[0]
    assert "allow 192.0.2.0/24;" in admin and "deny all;" in admin
    master = vhost.split(f"location ^~ {layout.KEYCLOAK_PATH}/realms/master/ {{", 1)[1].split("}", 1)[0]
    assert "deny all;" in master
    other = ctx["tenants"][1]["slug"]
    assert f"/realms/{other}/" not in vhost  # a tenant's vhost never serves another tenant's realm


def test_no_keycloak_paths_without_keycloak(context):
    tenant = context["tenants"][0]
    vhost = render.render_tenant_files(context, tenant["slug"])[tenant["site"]]
    assert layout.KEYCLOAK_PATH + "/" not in vhost


@pytest.fixture()
def keycloak_context(tmp_path):
    data = example_data()
    data["platform"]["artifacts"] = {"keycloak": dict(KEYCLOAK_PIN)}
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    return render.host_context(render.host_vars(plan, "node1"), lambda ref: f"secret:{ref}")


def nginx_files(ctx):
    files = files_of(ctx)
    return {path: text for path, text in files.items() if path.startswith("/etc/nginx/")}


def test_nginx_overwrites_x_forwarded_for_with_the_peer_address(keycloak_context):
    for path, text in nginx_files(keycloak_context).items():
        values = re.findall(r"proxy_set_header X-Forwarded-For (\S+);", text)
        assert all(value == "$remote_addr" for value in values), (path, values)
    tenant = keycloak_context["tenants"][0]
    vhost = render.render_tenant_files(keycloak_context, tenant["slug"])[tenant["site"]]
    assert vhost.count("proxy_set_header X-Forwarded-For $remote_addr;") == 6  # Synapse, counselling, 4 Keycloak paths


def test_nginx_logs_no_query_string_referer_or_user_agent(keycloak_context):
    files = nginx_files(keycloak_context)
    main = files[layout.NGINX_CONF]
    (log_format,) = re.findall(rf"log_format {layout.NGINX_LOG_FORMAT} '([^']*)';", main)
    assert "$uri" in log_format
    for leaky in ("$request ", "$request\"", "$request_uri", "$args", "$query_string", "$arg_", "$http_referer",
                  "$http_user_agent", "$http_authorization"):
        assert leaky not in log_format, leaky
    access_logs = [line.strip() for text in files.values() for line in text.splitlines()
                   if line.strip().startswith("access_log")]
    assert access_logs == [f"access_log /var/log/nginx/access.log {layout.NGINX_LOG_FORMAT};"]
    # Below crit nginx writes the whole request line (with its query string) into the error log.
    assert "\terror_log /var/log/nginx/error.log crit;" in main.split("http {", 1)[1]


def auth_patterns(main: str) -> list[re.Pattern]:
    block = main.split("map $uri $counselkit_auth_client {", 1)[1].split("}", 1)[0]
    # A source is a bare `~regex`, or quoted by nginx_str (`'~^\\/auth...'`: nginx reads `\\` as one backslash).
    sources = [line.split()[0] for line in block.splitlines() if line.strip()]
    regexes = [s[1:-1].replace("\\\\", "\\") if s[:1] in "'\"" else s for s in sources]
    return [re.compile(r[1:]) for r in regexes if r.startswith("~")]


@pytest.mark.parametrize(("uri", "limited"), [
    ("/_matrix/client/v3/login", True),
    ("/_matrix/client/r0/login/sso/redirect/keycloak", True),
    ("/_matrix/client/v3/register", True),
    ("/_matrix/client/v3/register/available", True),
    ("/_synapse/client/oidc/callback", True),
    ("/_synapse/client/pick_username/account", True),
    ("/auth/realms/awo-kiel/protocol/openid-connect/token", True),
    ("/auth/realms/awo-kiel/protocol/openid-connect/auth", True),
    ("/auth/realms/awo-kiel/login-actions/authenticate", True),
    ("/_matrix/client/v3/sync", False),
    ("/_matrix/client/v3/logout", False),
    ("/_matrix/client/versions", False),
    ("/auth/resources/abc/login/theme.css", False),
    ("/auth/realms/awo-kiel/protocol/openid-connect/certs", False),
])
def test_nginx_rate_limits_login_paths_only(keycloak_context, uri, limited):
    main = nginx_files(keycloak_context)[layout.NGINX_CONF]
    assert "limit_req_zone $counselkit_auth_client zone=counselkit_auth:10m" in main
    assert any(p.match(uri) for p in auth_patterns(main)) is limited


def test_every_proxied_location_applies_the_login_rate_limit(keycloak_context):
    for tenant in keycloak_context["tenants"]:
        vhost = render.render_tenant_files(keycloak_context, tenant["slug"])[tenant["site"]]
        for location in vhost.split("location ")[1:]:
            body = location.split("}", 1)[0]
            if "proxy_pass" in body:
                assert f"limit_req zone=counselkit_auth burst={policy.NGINX_AUTH_BURST} nodelay;" in body, location


def test_logs_kept_for_one_documented_figure(context):
    files = files_of(context)
    assert f"MaxRetentionSec={policy.LOG_RETENTION_DAYS}day" in files[layout.JOURNALD_DROPIN].splitlines()
    rotate = directives(files[layout.NGINX_LOGROTATE].replace("\t", ""))
    assert rotate["rotate"] == rotate["maxage"] == str(policy.LOG_RETENTION_DAYS)
    assert homeserver(context, "awo-kiel")["user_ips_max_age"] == f"{policy.LOG_RETENTION_DAYS}d"


def reports_context(tmp_path, **smtp):
    data = example_data()
    data["platform"]["smtp"] = {"host": "smtp.example.org", "from_address": "hosts@beratung.example.org", **smtp}
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    return render.host_context(render.host_vars(plan, "node1"), lambda ref: f'pa"ss\\{ref}')


def msmtp_settings(text):
    return [(line.split(None, 1) + [""])[:2] for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_host_reports_go_through_the_platform_relay(tmp_path):
    ctx = reports_context(tmp_path, reports_to="ops@nordlicht.example", user="relay-user")
    files = render.render_host_files(ctx)
    settings = dict(msmtp_settings(files[layout.MSMTP_CONF]))
    assert settings["host"] == "smtp.example.org" and settings["port"] == "587"
    assert settings["tls"] == "on" and settings["tls_starttls"] == "on" and settings["auth"] == "on"
    assert settings["from"] == '"hosts@beratung.example.org"' and settings["user"] == '"relay-user"'
    # msmtp's quoting: a quote or backslash in the password is escaped, the value stays one argument.
    assert settings["password"] == '"pa\\"ss\\\\platform.smtp_password"'
    assert settings["aliases"] == layout.MAIL_ALIASES
    aliases = dict(msmtp_settings(files[layout.MAIL_ALIASES]))
    assert aliases == {"root:": "ops@nordlicht.example", "default:": "ops@nordlicht.example"}
    upgrades = files[layout.APT_UNATTENDED_CONF]
    assert 'Unattended-Upgrade::Mail "root";' in upgrades and 'Unattended-Upgrade::MailReport "on-change";' in upgrades


def test_relay_without_login_and_without_reports(tmp_path):
    ctx = reports_context(tmp_path, reports_to="ops@nordlicht.example", port=25, starttls=False)
    settings = dict(msmtp_settings(render.render_host_files(ctx)[layout.MSMTP_CONF]))
    assert settings["auth"] == "off" and settings["tls"] == "off" and "password" not in settings
    silent = render.render_host_files(reports_context(tmp_path))  # smtp for Keycloak only: hosts send no mail
    assert layout.MSMTP_CONF not in silent and layout.MAIL_ALIASES not in silent
    assert "Unattended-Upgrade::Mail" not in silent[layout.APT_UNATTENDED_CONF]


def test_relay_user_and_password_stay_one_line(tmp_path):
    data = example_data()
    data["platform"]["smtp"] = {"host": "smtp.example.org", "from_address": "hosts@beratung.example.org",
                                "user": "relay\nhost evil.example", "reports_to": "ops@nordlicht.example"}
    with pytest.raises(InputError) as caught:
        load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    assert any(p.field == "platform.smtp.user" for p in caught.value.problems), caught.value.problems
    data["platform"]["smtp"]["user"] = "relay"
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    with pytest.raises(ValueError, match="line break"):
        render.host_context(render.host_vars(plan, "node1"), lambda ref: "pass\nhost evil.example")


def _location(site: str, opening: str) -> list[str]:
    block = site.split(opening, 1)[1].split("\n\t}", 1)[0]
    return sorted(line.strip() for line in block.splitlines() if line.strip())


def test_counselling_api_is_proxied_like_the_client_api(context):
    for tenant in context["tenants"]:
        site = render.render_tenant_files(context, tenant["slug"])[tenant["site"]]
        counselling = _location(site, f"location ^~ {layout.COUNSELLING_PATH} {{")
        matrix = _location(site, "location ~ ^(/_matrix|/_synapse/client) {")
        assert counselling == matrix
        assert f"proxy_pass http://127.0.0.1:{tenant['synapse_port']};" in counselling


def test_homeserver_loads_the_counselling_module_with_the_tenants_settings(tmp_path):
    data = example_data()
    hostile = ["Sucht: \"Alkohol\" # {{ x }}", "a, b]", "Ängste & Sorgen\\n"]
    data["tenants"][0]["counselling"] = {"topics": hostile, "opening_hours": "'Mo'\": 9", "absence_message": "%s {%",
                                         "retention_days": 30, "notify_counsellors": False}
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", data))
    ctx = render.host_context(render.host_vars(plan, "node1"), lambda ref: f"secret:{ref}")
    slug = data["tenants"][0]["slug"]
    (module,) = homeserver(ctx, slug)["modules"]
    assert module["module"] == layout.SYNAPSE_MODULE_CLASS
    assert module["config"] == {
        "centre_name": data["tenants"][0]["name"], "topics": hostile, "opening_hours": "'Mo'\": 9",
        "absence_message": "%s {%", "retention_days": 30, "notify_counsellors": False,
        "service_localpart": layout.COUNSELLING_SERVICE_LOCALPART,
        "register_per_minute": policy.COUNSELLING_REGISTER_PER_MINUTE,
        "register_burst": policy.COUNSELLING_REGISTER_BURST, "openapi_path": layout.COUNSELLING_OPENAPI_HOST,
        "seats": data["tenants"][0]["seats"], "admin_emails": [a["email"] for a in data["tenants"][0]["admins"]],
        "operator_prefixes": [layout.OPERATOR_ACCOUNT_PREFIX]}
    # a tenant without a counselling block gets the defaults of layout.py
    example = homeserver(ctx, data["tenants"][1]["slug"])["modules"][0]["config"]
    assert {k: example[k] for k in policy.COUNSELLING_DEFAULTS} == data["tenants"][1]["counselling"]
    assert "counselling" not in data["tenants"][2]
    defaults = homeserver(ctx, data["tenants"][2]["slug"])["modules"][0]["config"]
    assert {k: defaults[k] for k in policy.COUNSELLING_DEFAULTS} == policy.COUNSELLING_DEFAULTS


def test_unit_puts_the_module_directory_on_the_python_path(context):
    unit = files_of(context)[layout.SYNAPSE_UNIT_PATH]
    assert f"Environment=PYTHONPATH={layout.SYNAPSE_MODULE_ROOT}\n" in unit
    assert layout.SYNAPSE_MODULE_DIR == f"{layout.SYNAPSE_MODULE_ROOT}/{layout.SYNAPSE_MODULE_CLASS.split('.')[0]}"
