"""The pyinfra deploy on two lab hosts, checked over SSH with testinfra and from the control side.

Deploy the three example tenants spread over two hosts (LAB_HOSTS deploy_a/deploy_b), check every promise of the
lite installation, re-run (zero changes), add a tenant (only its resources, no other Synapse restarts), remove it
again from tenants.yaml (the deploy refuses), and use a real Matrix client. The deploys are module fixtures, so
each test also runs alone, and in any order: what a test changes for good (the added tenant, the removed admin)
is recorded in SITE, every later write of tenants.yaml keeps it, and the tests of admins and keys compare the hosts
with the tenants file as it is now (`current_plan`), not as the first deploy had it.

What a systemd-nspawn container cannot do is skipped with the reason; on a real host the same tests assert it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets as random_source
import shlex
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from counselkit import layout, policy
from counselkit.ca import split_pem
from counselkit.plan import load_plan
from counselkit.site import lab_site
from deploy.runner import run_deploy
from tests.checks.state import assert_nothing_public_but
from tests.checks.units import aide_baseline_problem
from tests.support import LAB_HOSTS, environment_kept, example_data, tenant_entry, write_yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

A, B = LAB_HOSTS["deploy_a"], LAB_HOSTS["deploy_b"]
PLACEMENT = {"awo-kiel": A, "diakonie-luebeck": B, "skf-husum": A}
DEPLOYED_HOSTS = sorted(set(PLACEMENT.values()))
ADDED = "caritas-flensburg"  # added later on host A, with federation on
SECOND_ADMIN = "bernd"  # a second admin (a real key: tests log in as him), removed again in section 6
_SECOND_ADMIN_KEY: dict[str, str] = {}


def second_admin_key(workdir: Path) -> tuple[Path, str]:
    key = workdir / "bernd_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bernd@lab", "-f", str(key)], check=True)
    _SECOND_ADMIN_KEY["public"] = Path(f"{key}.pub").read_text().strip()
    return key, _SECOND_ADMIN_KEY["public"]


# What tenants.yaml holds now (as last deployed, or being deployed): tests change one entry for good (ADDED added,
# SECOND_ADMIN removed), and every write of the file keeps the others, so the order of the tests does not matter.
SITE: dict[str, bool] = {}


def write_site(tenants_file: Path, **changes: bool) -> Path:
    """tenants.yaml as SITE says, after `changes` (with_added, with_second_admin); they stay in SITE."""
    SITE.update(changes)
    return write_yaml(tenants_file, tenants_data(**SITE))


def current_plan(lab, tenants_file: Path):
    """The plan of tenants.yaml as it is now (an admin may have been removed by an earlier test)."""
    return load_plan(tenants_file, site=lab_site(lab))


def tenants_data(with_added: bool, with_second_admin: bool = True) -> dict:
    data = example_data()
    if with_second_admin:
        data["platform"]["admins"].append({"name": SECOND_ADMIN, "ssh_key": _SECOND_ADMIN_KEY["public"]})
    data["platform"]["hosts"] = [{"name": A, "address": "203.0.113.10"}, {"name": B, "address": "203.0.113.11"}]
    for entry in data["tenants"]:
        entry["host"] = PLACEMENT[entry["slug"]]
    if with_added:
        data["tenants"].append(tenant_entry(ADDED, name="Caritas Flensburg", host=A, federation=True,
                                          federation_domains=["beratung.partner.example"]))
    return data


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="module")
def vault_env(workdir):
    password_file = workdir / "vault-password"
    password_file.write_text(random_source.token_urlsafe(24) + "\n")
    password_file.chmod(0o600)
    with environment_kept("COUNSELKIT_VAULT_PASSWORD_FILE"):
        os.environ["COUNSELKIT_VAULT_PASSWORD_FILE"] = str(password_file)
        yield {"COUNSELKIT_VAULT_PASSWORD_FILE": str(password_file)}


@pytest.fixture(scope="module")
def tenants_file(workdir) -> Path:
    second_admin_key(workdir)
    SITE.clear()
    return write_site(workdir / "tenants.yaml", with_added=False, with_second_admin=True)


def offboard_by_hand(lab, name: str, slug: str) -> None:
    """docs/operations.md 'Removing a tenant', steps 2-4, for `slug` on lab host `name` if it is there (its data is
    the lab's own: nothing to export). A lab reused from an earlier run of this suite still holds the tenant the
    suite adds later (ADDED), and the orphan guard rightly refuses this suite's first deploy without it."""
    names, files, backup = layout.tenant_names(slug), layout.tenant_synapse_files(slug), layout.backup_job_names(slug)
    q = shlex.quote
    steps = [
        f"test -d {q(names['config_dir'])} || exit 0",
        f"systemctl disable --now {q(names['unit'])} {q(backup['timer'])} 2>/dev/null || true",
        f"rm -f {q(layout.tenant_site(slug))}", "nginx -t -q", "systemctl reload nginx",
        f"runuser -u postgres -- dropdb --if-exists {q(names['db_name'])}",
        f"runuser -u postgres -- dropuser --if-exists {q(names['db_user'])}",
        f"rm -f {q(files['egress_rules'])}", f"nft -c -f {q(layout.NFTABLES_CONF)}", "systemctl reload nftables",
        f"rm -rf {q(files['unit_dropin'].rsplit('/', 1)[0])}", "systemctl daemon-reload",
        "rm -rf " + " ".join(q(path) for path in (names["config_dir"], names["data_dir"], names["web_root"],
                                                  f"{layout.TLS_DIR}/{slug}", backup["config_dir"],
                                                  backup["state_dir"])),
        f"userdel {q(names['unix_user'])}",
    ]
    result = ssh_as(lab, name, "root", lab.host(name).ssh_key_path, " && ".join(steps))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def first_deploy(lab, tenants_file, vault_env):
    offboard_by_hand(lab, A, ADDED)
    result = run_deploy(tenants_file, extra_env=vault_env)
    assert result.returncode == 0, result.output[-6000:]
    return result


@pytest.fixture(scope="module")
def plan(lab, tenants_file, first_deploy):
    return load_plan(tenants_file, site=lab_site(lab))


@pytest.fixture(scope="module")
def store(tenants_file, first_deploy):
    from counselkit.secrets import SecretStore

    return SecretStore.open(tenants_file)


@pytest.fixture(scope="module")
def ca_file(workdir, plan, store) -> Path:
    path = workdir / "ca.pem"
    path.write_bytes(split_pem(store.get(plan.platform_secrets["internal_ca"]))[1])
    return path


@pytest.fixture(scope="module")
def hosts(lab, first_deploy):
    import testinfra

    return {
        h.name: testinfra.get_host(
            f"ssh://{h.ssh_user}@{h.address}",
            ssh_identity_file=str(h.ssh_key_path),
            ssh_extra_args=f"-F none -o UserKnownHostsFile={h.known_hosts_path} -o StrictHostKeyChecking=yes",
        )
        for h in lab.hosts
        if h.name in DEPLOYED_HOSTS  # a lab may hold more hosts (other suites use them); only these are deployed
    }


@pytest.fixture(scope="module")
def container(hosts) -> dict[str, str]:
    return {name: h.run("systemd-detect-virt --container || true").stdout.strip() for name, h in hosts.items()}


@pytest.fixture()
def resolve_lab(monkeypatch, plan):
    """Tenant domains resolve to their lab host inside this test process (the lab has no DNS)."""
    names = {t.domain: plan.host(t.host).address for t in plan.tenants()}
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real(names.get(host, host), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def tls_context(ca_file: Path, **limits) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    for key, value in limits.items():
        setattr(context, key, value)
    return context


def https_get(url: str, ca_file: Path, method: str = "GET", body: bytes | None = None):
    request = urllib.request.Request(url, method=method, data=body)
    try:
        with urllib.request.urlopen(request, context=tls_context(ca_file), timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def unit_start(host, unit: str) -> str:
    return host.run(f"systemctl show -p ActiveEnterTimestampMonotonic --value {unit}").stdout.strip()


# --- 1. base ---------------------------------------------------------------------------------------------------


def test_admins_have_their_keys_and_sudo(lab, hosts, tenants_file):
    plan = current_plan(lab, tenants_file)
    for name, host in hosts.items():
        for admin in plan.platform.admins:
            user = host.user(admin.name)
            assert user.exists, f"{name}: admin {admin.name} missing"
            assert layout.ADMIN_GROUP in user.groups
            assert admin.ssh_key in host.file(f"{user.home}/.ssh/authorized_keys").content_string
        assert host.run(f"visudo -cf {layout.SUDOERS_ADMINS}").rc == 0


def test_sshd_keys_only_and_modern_algorithms(hosts):
    for name, host in hosts.items():
        effective = dict(line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line)
        assert effective["passwordauthentication"] == "no", name
        assert effective["kbdinteractiveauthentication"] == "no", name
        assert effective["permitrootlogin"] in ("without-password", "prohibit-password"), name
        for key in ("kexalgorithms", "ciphers", "macs"):
            assert "sha1" not in effective[key] and "cbc" not in effective[key], (name, key, effective[key])


def test_ssh_refuses_passwords_and_weak_ciphers_from_outside(lab):
    for h in (lab.host(name) for name in DEPLOYED_HOSTS):
        base = ["ssh", "-F", "none", "-o", f"UserKnownHostsFile={h.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", f"root@{h.address}", "true"]
        password = subprocess.run(base[:1] + ["-o", "PubkeyAuthentication=no", "-o",
                                              "PreferredAuthentications=password,keyboard-interactive"] + base[1:],
                                  capture_output=True, text=True)
        assert password.returncode != 0 and "Permission denied (publickey)" in password.stderr, password.stderr
        weak = subprocess.run(base[:1] + ["-i", str(h.ssh_key_path), "-o", "Ciphers=aes128-cbc"] + base[1:],
                              capture_output=True, text=True)
        assert weak.returncode != 0 and "no matching cipher" in weak.stderr, weak.stderr


def test_network_sysctls_applied(hosts):
    for name, host in hosts.items():
        for key, value in (("net.ipv4.conf.all.accept_redirects", "0"), ("net.ipv4.conf.all.send_redirects", "0"),
                           ("net.ipv4.tcp_syncookies", "1"), ("net.ipv4.conf.all.rp_filter", "1")):
            assert host.sysctl(key) == int(value), (name, key)


def test_kernel_sysctls_applied(hosts, container):
    for name, host in hosts.items():
        assert host.file(layout.SYSCTL_KERNEL_FILE).contains("kernel.kptr_restrict = 2")
        if container[name] != "none":
            continue
        assert host.sysctl("kernel.kptr_restrict") == 2 and host.sysctl("fs.protected_symlinks") == 1
    if any(kind != "none" for kind in container.values()):
        pytest.skip(f"kernel-wide sysctls (kernel.*, fs.*) belong to the container's host kernel in {set(container.values())}: "
                    f"file {layout.SYSCTL_KERNEL_FILE} checked, running values not")


def test_nftables_default_deny(hosts):
    for name, host in hosts.items():
        table = host.check_output(f"nft list table inet {layout.NFTABLES_TABLE}")
        assert "policy drop" in table.split("chain input", 1)[1].split("}", 1)[0], name
        assert host.service("nftables").is_enabled


def test_only_public_ports_reachable_from_control(lab, plan):
    probe = [22, 80, 443, 25, 111, layout.POSTGRES_PORT, layout.KEYCLOAK_HTTP_PORT, 8000, 8008, 8448,
             *range(layout.SYNAPSE_PORT_BASE, layout.SYNAPSE_PORT_BASE + 5)]
    for h in (lab.host(name) for name in DEPLOYED_HOSTS):
        open_ports = []
        for port in probe:
            with socket.socket() as sock:
                sock.settimeout(1.5)
                if sock.connect_ex((h.address, port)) == 0:
                    open_ports.append(port)
        assert open_ports == [22, 80, 443], (h.name, open_ports)


def test_nothing_else_listens_outside_loopback(hosts):
    for host in hosts.values():  # DHCP client ports are allowed by the shared check
        assert_nothing_public_but(host, {"tcp/22", "tcp/80", "tcp/443"})


def test_auditd_rules(hosts, container):
    for name, host in hosts.items():
        assert host.package("auditd").is_installed
        assert host.file(layout.AUDIT_RULES).contains("-k identity")
        if container[name] == "none":
            rules = host.check_output("auditctl -l")
            assert "identity" in rules and "sudoers" in rules
    if any(kind != "none" for kind in container.values()):
        pytest.skip("auditd cannot run in a container (the kernel audit subsystem is not namespaced): rules file "
                    f"{layout.AUDIT_RULES} checked, loaded rules (auditctl -l) not")


def test_journald_persistent(hosts):
    for name, host in hosts.items():
        assert host.file(layout.JOURNALD_DROPIN).contains("Storage=persistent")
        assert host.file(layout.JOURNAL_DIR).is_directory
        assert host.run(f"find {layout.JOURNAL_DIR} -name '*.journal' | head -1").stdout.strip(), name


def test_unattended_security_upgrades(hosts):
    for name, host in hosts.items():
        assert host.package("unattended-upgrades").is_installed
        dump = host.check_output("apt-config dump")
        assert 'APT::Periodic::Unattended-Upgrade "1";' in dump, name
        assert "label=Debian-Security" in dump
        assert host.service("apt-daily-upgrade.timer").is_enabled


def test_time_sync(hosts, container):
    for name, host in hosts.items():
        assert host.service("systemd-timesyncd").is_enabled, name
        if container[name] == "none":
            assert host.service("systemd-timesyncd").is_running
    if any(kind != "none" for kind in container.values()):
        pytest.skip("systemd-timesyncd does not run in a container (ConditionVirtualization=!container; the "
                    "container's host keeps the clock): enabled checked, running not")


# --- 2. PostgreSQL -----------------------------------------------------------------------------------------------


def psql(host, sql: str) -> str:
    return host.check_output(f"cd / && sudo -u postgres psql -XAtc \"{sql}\"").strip()


def test_postgres_local_scram_c_collation(hosts, plan):
    for name, host in hosts.items():
        assert psql(host, "SHOW listen_addresses") == "localhost"
        assert psql(host, "SHOW password_encryption") == "scram-sha-256"
        for tenant in plan.host(name).tenants:
            assert psql(host, f"SELECT datcollate || ',' || datctype FROM pg_database WHERE datname='{tenant.db_name}'") == "C,C"
            assert psql(host, f"SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname='{tenant.db_user}'") == "t"
            assert psql(host, f"SELECT has_database_privilege('public', '{tenant.db_name}', 'CONNECT')") == "f"


def test_each_role_reaches_only_its_own_database(hosts, plan, store):
    on_a = plan.host(A).tenants
    a, b = on_a[0], on_a[1]
    host = hosts[A]
    password = store.get(a.secrets["synapse_db_password"])
    own = host.run(f"PGPASSWORD='{password}' psql -h 127.0.0.1 -U {a.db_user} -d {a.db_name} -XAtc 'select 1'")
    assert own.rc == 0 and own.stdout.strip() == "1", own.stderr
    other = host.run(f"PGPASSWORD='{password}' psql -h 127.0.0.1 -U {a.db_user} -d {b.db_name} -XAtc 'select 1'")
    assert other.rc != 0 and ("no pg_hba.conf entry" in other.stderr or "pg_hba.conf rejects" in other.stderr), other.stderr


# --- 3. Synapse --------------------------------------------------------------------------------------------------


def test_synapse_pinned_release_and_sandboxed_units(hosts, plan):
    for name, host in hosts.items():
        version = host.check_output(f"{layout.SYNAPSE_VENV}/bin/python -c 'import synapse; print(synapse.__version__)'")
        assert version.strip() == plan.platform.artifacts.synapse.version
        for tenant in plan.host(name).tenants:
            assert host.service(tenant.unit).is_running, (name, tenant.unit)
            props = dict(line.split("=", 1) for line in host.check_output(
                f"systemctl show {tenant.unit} -p User,NoNewPrivileges,ProtectSystem,PrivateTmp,ProtectHome").splitlines())
            assert props == {"User": tenant.unix_user, "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                             "PrivateTmp": "yes", "ProtectHome": "yes"}, props
            pid = host.check_output(f"systemctl show -p MainPID --value {tenant.unit}").strip()
            assert host.check_output(f"ps -o user= -p {pid}").strip() == tenant.unix_user
            assert host.socket(f"tcp://127.0.0.1:{tenant.synapse_port}").is_listening
            assert not host.socket(f"tcp://0.0.0.0:{tenant.synapse_port}").is_listening
            assert host.file(tenant.signing_key_path).user == tenant.unix_user
            assert host.file(tenant.signing_key_path).mode == 0o600


def test_each_tenant_own_server_name_closed_registration_no_federation(plan, ca_file, resolve_lab):
    for tenant in plan.tenants():
        status, _, body = https_get(f"{tenant.url}.well-known/matrix/client", ca_file)
        assert status == 200 and json.loads(body)["m.homeserver"]["base_url"] == f"https://{tenant.domain}"
        status, _, body = https_get(f"{tenant.url}.well-known/matrix/server", ca_file)
        assert status == 200 and json.loads(body)["m.server"] == f"{tenant.domain}:443"
        status, _, body = https_get(f"{tenant.url}_matrix/client/v3/register", ca_file, "POST",
                                    json.dumps({"username": "intruder", "password": "x" * 16}).encode())
        assert status == 403, body
        status, _, _ = https_get(f"{tenant.url}_matrix/federation/v1/version", ca_file)
        assert status == 404
        status, _, _ = https_get(f"{tenant.url}_synapse/admin/v1/server_version", ca_file)
        assert status == 404


# --- 4. nginx ----------------------------------------------------------------------------------------------------


def test_tls_headers_no_version(plan, ca_file, resolve_lab):
    tenant = plan.tenants()[0]
    status, headers, _ = https_get(f"{tenant.url}_matrix/client/versions", ca_file)
    assert status == 200
    assert headers.get("Server") == "nginx", headers.get("Server")
    assert "max-age=" in headers["Strict-Transport-Security"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    old = tls_context(ca_file, minimum_version=ssl.TLSVersion.TLSv1, maximum_version=ssl.TLSVersion.TLSv1_1)
    old.set_ciphers("ALL:@SECLEVEL=0")
    address = resolve_lab[tenant.domain]
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((address, 443), timeout=10) as sock:
            old.wrap_socket(sock, server_hostname=tenant.domain)


def test_catch_all_vhost_answers_nothing(lab, ca_file):
    address = lab.host(A).address
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((address, 443), timeout=10) as sock:
            tls_context(ca_file).wrap_socket(sock, server_hostname="unknown.example.org")
    with socket.create_connection((address, 80), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: unknown.example.org\r\nConnection: close\r\n\r\n")
        assert sock.recv(100) == b""


# --- 5. idempotence, adding a tenant; 6. removal refuses ------------------------------------------------------------


def test_file_integrity_baseline_built(hosts):
    """The first deploy starts the AIDE baseline in the background; it finishes (succeeds) on every host. The
    second run below then finds it present instead of starting it again."""
    problems = [f"{name}: {problem}" for name, host in hosts.items()
                if (problem := aide_baseline_problem(lambda command, h=host: h.run(command).stdout))]
    assert not problems, problems


def test_second_run_changes_nothing(first_deploy, tenants_file, vault_env):
    assert first_deploy.changes > 0, "the results parser found no change in the first deploy"
    again = run_deploy(tenants_file, extra_env=vault_env)
    assert again.returncode == 0, again.output[-4000:]
    assert again.changed == [], again.changed


@pytest.fixture(scope="module")
def added_deploy(lab, hosts, plan, tenants_file, vault_env):
    """The deploy that adds one tenant (ADDED, on host A) to the running site, and the other tenants' Synapse start
    times before it: the adding test checks it, the removal test needs the tenant there (and runs alone too)."""
    before = {t.unit: unit_start(hosts[t.host], t.unit) for t in plan.tenants()}
    write_site(tenants_file, with_added=True)
    result = run_deploy(tenants_file, extra_env=vault_env)
    assert result.returncode == 0, result.output[-4000:]
    return before, result


def test_adding_a_tenant_touches_only_that_tenant(lab, hosts, plan, tenants_file, added_deploy):
    before, result = added_deploy
    after = {t.unit: unit_start(hosts[t.host], t.unit) for t in plan.tenants()}
    assert after == before, "another tenant's Synapse restarted"
    added = load_plan(tenants_file, site=lab_site(lab)).tenant(ADDED)
    assert added.host == A
    assert hosts[A].service(added.unit).is_running
    others = [t.slug for t in plan.tenants()]
    leaked = [(op, n) for op, n in result.changed if any(f"[{slug}]" in op for slug in others)]
    assert not leaked, leaked
    assert not any(n and op.startswith("Restart") for op, n in result.changed), result.changed


def test_removing_a_tenant_is_refused(lab, hosts, tenants_file, vault_env, added_deploy):
    added = load_plan(tenants_file, site=lab_site(lab)).tenant(ADDED)
    before = unit_start(hosts[A], added.unit)
    write_yaml(tenants_file, tenants_data(**{**SITE, "with_added": False}))  # not in SITE: refused, undone below
    try:
        result = run_deploy(tenants_file, extra_env=vault_env)
        assert result.returncode != 0
        assert f"'{ADDED}'" in result.output and "refuses" in result.output, result.output[-3000:]
        assert unit_start(hosts[A], added.unit) == before
        assert hosts[A].file(added.media_dir).is_directory
    finally:
        write_site(tenants_file)  # keep the lab consistent with its lock file


def ssh_as(lab, name: str, user: str, key: Path, command: str) -> subprocess.CompletedProcess:
    h = lab.host(name)
    return subprocess.run(["ssh", "-F", "none", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                           "-o", f"UserKnownHostsFile={h.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
                           "-o", "ConnectTimeout=10", f"{user}@{h.address}", command],
                          capture_output=True, text=True, timeout=60)


def test_roots_keys_are_exactly_the_planned_ones(lab, hosts, tenants_file):
    plan = current_plan(lab, tenants_file)
    for name, host in hosts.items():
        keys = host.file(layout.ROOT_AUTHORIZED_KEYS)
        assert (keys.mode, keys.user) == (0o600, "root"), name
        assert keys.content_string.splitlines() == plan.root_keys(), name


def test_proxy_configuration_is_root_only(hosts):
    for name, host in hosts.items():  # platform.proxy may carry credentials
        for path in (layout.APT_PROXY_CONF, layout.PIP_CONF):
            f = host.file(path)
            assert (f.mode, f.user, f.group) == (0o600, "root", "root"), (name, path, oct(f.mode))


def test_sshd_shows_the_legal_banner(lab):
    h = lab.host(A)
    result = subprocess.run(["ssh", "-F", "none", "-o", f"UserKnownHostsFile={h.known_hosts_path}", "-o",
                             "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no",
                             "-o", "ConnectTimeout=10", f"nobody@{h.address}", "true"], capture_output=True, text=True)
    assert " ".join(policy.LEGAL_BANNER.split()[:3]) in result.stderr, result.stderr


def test_removing_an_admin_removes_account_key_and_sudo(lab, hosts, workdir, tenants_file, vault_env):
    key, public = second_admin_key(workdir)
    for name in DEPLOYED_HOSTS:
        before = ssh_as(lab, name, SECOND_ADMIN, key, "sudo -n true && echo sudo-ok")
        assert before.returncode == 0 and "sudo-ok" in before.stdout, (name, before.stderr)
    write_site(tenants_file, with_second_admin=False)  # for good: later writes keep the admin removed
    result = run_deploy(tenants_file, extra_env=vault_env)
    assert result.returncode == 0, result.output[-4000:]
    for name, host in hosts.items():
        assert not host.user(SECOND_ADMIN).exists, name
        assert not host.file(f"/home/{SECOND_ADMIN}").exists, name
        assert SECOND_ADMIN not in host.check_output(f"getent group {layout.ADMIN_GROUP}"), name
        assert public.split()[1] not in host.file(layout.ROOT_AUTHORIZED_KEYS).content_string, name
        for admin in example_data()["platform"]["admins"]:
            assert host.user(admin["name"]).exists, name  # the others stay
        for user in (SECOND_ADMIN, "root"):
            refused = ssh_as(lab, name, user, key, "true")
            assert refused.returncode != 0 and "Permission denied" in refused.stderr, (name, user, refused.stderr)
    again = run_deploy(tenants_file, extra_env=vault_env)
    assert again.returncode == 0 and again.changed == [], again.changed


# --- 7. a real Matrix client ---------------------------------------------------------------------------------------


def register_user(host, tenant, user: str, password: str) -> None:
    command = (f"{layout.SYNAPSE_VENV}/bin/register_new_matrix_user --no-admin -u {user} -p '{password}' "
               f"-c {layout.tenant_synapse_files(tenant.slug)['homeserver_yaml']} http://127.0.0.1:{tenant.synapse_port}")
    result = host.run(command)
    assert result.rc == 0 or "User ID already taken" in result.stdout + result.stderr, result.stderr


def test_matrix_client_login_room_message_and_tenant_isolation(hosts, plan, ca_file, resolve_lab):
    from nio import AsyncClient, LoginError, LoginResponse, RoomCreateResponse, RoomMessagesResponse

    tenant_a = plan.host(A).tenants[0]
    tenant_b = plan.host(B).tenants[0]
    password = random_source.token_urlsafe(16)
    register_user(hosts[tenant_a.host], tenant_a, "alice", password)
    context = tls_context(ca_file)

    async def scenario():
        client = AsyncClient(f"https://{tenant_a.domain}", "alice", ssl=context)
        try:
            login = await client.login(password)
            assert isinstance(login, LoginResponse), login
            assert login.user_id == f"@alice:{tenant_a.domain}"
            room = await client.room_create(name="Beratung")
            assert isinstance(room, RoomCreateResponse), room
            await client.room_send(room.room_id, "m.room.message", {"msgtype": "m.text", "body": "Guten Tag"})
            messages = await client.room_messages(room.room_id, start=None, limit=20)
            assert isinstance(messages, RoomMessagesResponse), messages
            assert "Guten Tag" in [getattr(event, "body", None) for event in messages.chunk]
        finally:
            await client.close()
        other = AsyncClient(f"https://{tenant_b.domain}", f"@alice:{tenant_a.domain}", ssl=context)
        try:
            refused = await other.login(password)
            assert isinstance(refused, LoginError), refused
        finally:
            await other.close()

    asyncio.run(scenario())
