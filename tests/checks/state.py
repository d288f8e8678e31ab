"""What an installation looks like from the outside, as plain data: packages, units, sockets, firewall, files.

Used by tests/lab/test_parity.py (pyinfra host vs Ansible host) and the molecule verifiers. Every function takes
a testinfra host and returns something comparable between two hosts.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from typing import Any

from counselkit import layout, render
from counselkit.components.registry import host_components


def packages(host: Any) -> set[str]:
    out = host.check_output("dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'")
    return {line.split()[1] for line in out.splitlines() if line.startswith("ii ")}


def enabled_units(host: Any) -> set[str]:
    out = host.check_output("systemctl list-unit-files --state=enabled --no-legend --plain")
    units = {line.split()[0] for line in out.splitlines() if line.strip()}
    # Instances of template units (matrix-synapse@<slug>, counselkit-backup@<job>.timer) are listed by wants links.
    wants = host.run("ls -1 /etc/systemd/system/*.wants/ 2>/dev/null").stdout
    units |= {line.strip() for line in wants.splitlines() if "@" in line and line.strip().endswith((".service", ".timer"))}
    return units


def active_units(host: Any) -> set[str]:
    out = host.check_output("systemctl list-units --state=active --no-legend --plain --type=service,timer,socket")
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def listening(host: Any) -> set[str]:
    """netid/address:port/process of every listening socket (no pids: those differ)."""
    found = set()
    for line in host.check_output("ss -Htlnup").splitlines():
        parts = line.split()
        netid, local = parts[0], parts[4]
        process = ""
        if "users:((" in line:
            process = line.split('users:(("', 1)[1].split('"', 1)[0]
        address, port = local.rsplit(":", 1)
        if netid == "udp" and port in ("68", "546"):
            continue  # DHCP clients of the host's own network configuration
        found.add(f"{netid}/{address}:{port}/{process}")
    return found


def nft_ruleset(host: Any) -> str:
    """The loaded ruleset, or why none can be read (a container without CAP_NET_ADMIN reads nothing)."""
    result = host.run("nft list ruleset")
    if result.rc != 0:
        return f"<nft list ruleset failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.rc}>"
    return result.stdout


def deployed_units(host_vars: dict[str, Any], without: frozenset[str] = frozenset()) -> list[str]:
    """Every service unit the component specs install on a host (the timers and services of each component)."""
    return sorted({s.unit for c in _components(host_vars, without) for s in c.services})


def _components(host_vars: dict[str, Any], without: frozenset[str]) -> list[Any]:
    return [c for name, c in host_components(host_vars).items() if name not in without]


def managed_paths(host_vars: dict[str, Any], without: frozenset[str] = frozenset()) -> list[str]:
    """Every file the deploy manages on a host, from the template contract, layout and the component specs (no engine
    involved); `without`: components the deploy under test does not install (e.g. backup without S3 keys)."""
    paths = list(render.wanted_host_templates(host_vars).values())
    for tenant in host_vars["tenants"]:
        paths += [tenant[key] for key in render.TENANT_TEMPLATES.values()]
        paths.append(tenant["signing_key_path"])
        if host_vars["platform"]["tls"] == "internal":
            paths += [tenant["tls"]["cert"], tenant["tls"]["key"]]
    if host_vars["platform"]["tls"] == "internal":
        paths.append(layout.INTERNAL_CA_CERT)
    for admin in host_vars["platform"]["admins"]:
        paths.append(f"/home/{admin['name']}/.ssh/authorized_keys")
    paths += [layout.ROOT_AUTHORIZED_KEYS, layout.SYNAPSE_REQUIREMENTS_HOST]
    # and every file and copy a component spec names (the counselling module, the web app's bundle, backup jobs...)
    for component in _components(host_vars, without):
        paths += [f.dest for f in component.files] + [c.dest for c in component.copies]
        paths += [item["dest"] for item in component.layout.get("webapp", [])]  # the built bundle, copied as it is
    return sorted(set(paths))


def after_keycloak_archive(host_vars: dict[str, Any]) -> list[str]:
    """The files Keycloak's spec puts into the unpacked release (its login themes): a deploy up to the archive
    (roles/keycloak, deploy/site.py with keycloak_with_archive false) writes none of them."""
    spec = host_components(host_vars)["keycloak"]
    return sorted(f.dest for f in spec.files if f.context == spec.layout["release"]["context"])


def managed_dirs(host_vars: dict[str, Any], without: frozenset[str] = frozenset()) -> list[str]:
    dirs = [layout.JOURNAL_DIR, layout.ACME_WEBROOT]
    if host_vars["platform"]["tls"] == "internal":
        dirs.append(layout.TLS_DIR)
    for tenant in host_vars["tenants"]:
        dirs += [tenant["config_dir"], tenant["data_dir"], tenant["media_dir"], tenant["web_root"]]
        dirs += [tenant["config_dir"].rsplit("/", 1)[0], tenant["data_dir"].rsplit("/", 1)[0],
                 tenant["web_root"].rsplit("/", 1)[0]]
        if host_vars["platform"]["tls"] == "internal":
            dirs.append(tenant["tls"]["cert"].rsplit("/", 1)[0])
    for admin in host_vars["platform"]["admins"]:
        dirs.append(f"/home/{admin['name']}/.ssh")
    for component in _components(host_vars, without):
        dirs += [d.path for d in component.directories]
    return sorted(set(dirs))


def file_state(host: Any, path: str, content: bool = True) -> dict[str, Any]:
    f = host.file(path)
    if not f.exists:
        return {"exists": False}
    state: dict[str, Any] = {"exists": True, "mode": oct(f.mode), "user": f.user, "group": f.group}
    if content and f.is_file:
        state["sha256"] = hashlib.sha256(f.content).hexdigest()
    return state


# One interpreter on the host for many paths (one SSH round trip instead of several per path): the same facts as
# file_state, in the same shape. Paths come as argv, so no path is ever shell or Python text.
_FILE_STATES = """
import grp, hashlib, json, os, pwd, stat, sys
hashed = set(json.loads(sys.argv[1]))
out = {}
for path in sys.argv[2:]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        out[path] = {"exists": False}
        continue
    item = {"exists": True, "mode": oct(stat.S_IMODE(st.st_mode)), "user": pwd.getpwuid(st.st_uid).pw_name,
            "group": grp.getgrgid(st.st_gid).gr_name}
    if path in hashed and stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            item["sha256"] = hashlib.sha256(f.read()).hexdigest()
    out[path] = item
print(json.dumps(out))
"""


def file_states(host: Any, paths: list[str], hashed: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """file_state of every path at once; the content hash of those in `hashed` (default: all)."""
    wanted = sorted(set(paths) if hashed is None else hashed & set(paths))
    argv = ["python3", "-I", "-c", _FILE_STATES, json.dumps(wanted), *paths]
    return json.loads(host.check_output(" ".join(shlex.quote(a) for a in argv)))


def file_text(host: Any, path: str) -> str:
    f = host.file(path)
    return f.content_string if f.exists and f.is_file else ""


# --- assertions shared with tests/lab (the promises of the lite installation) -------------------------------


def sshd_effective(host: Any) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line)


def assert_sshd_hardened(host: Any) -> None:
    effective = sshd_effective(host)
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["permitrootlogin"] in ("without-password", "prohibit-password")
    for key in ("kexalgorithms", "ciphers", "macs"):
        assert "sha1" not in effective[key] and "cbc" not in effective[key], (key, effective[key])


def assert_admins(host: Any, host_vars: dict[str, Any]) -> None:
    for admin in host_vars["platform"]["admins"]:
        user = host.user(admin["name"])
        assert user.exists, f"admin {admin['name']} missing"
        assert layout.ADMIN_GROUP in user.groups
        assert admin["ssh_key"] in host.file(f"{user.home}/.ssh/authorized_keys").content_string
    members = host.check_output(f"getent group {layout.ADMIN_GROUP}").split(":")[3]
    assert sorted(m for m in members.split(",") if m) == sorted(a["name"] for a in host_vars["platform"]["admins"])
    root_keys = host.file(layout.ROOT_AUTHORIZED_KEYS)
    assert (root_keys.user, root_keys.mode) == ("root", 0o600)
    assert root_keys.content_string.splitlines() == host_vars["platform"]["root_keys"]
    assert host.run(f"visudo -cf {layout.SUDOERS_ADMINS}").rc == 0


def assert_nothing_public_but(host: Any, allowed: set[str]) -> None:
    public = set()
    for line in host.check_output("ss -Htlnu").splitlines():
        netid, local = line.split()[0], line.split()[4]
        address, port = local.rsplit(":", 1)
        if address.startswith(("127.", "[::1]", "::1", "[::ffff:127.")):
            continue
        if netid == "udp" and port in ("68", "546"):
            continue
        public.add(f"{netid}/{port}")
    assert public <= allowed, sorted(public)


def assert_postgres_local_scram(host: Any, host_vars: dict[str, Any]) -> None:
    assert host.service(layout.POSTGRES_UNIT).is_running
    assert host.file(layout.POSTGRES_HBA).contains("scram-sha-256")
    dbs = host.check_output("cd / && runuser -u postgres -- psql -XAtc 'SELECT datname, datcollate FROM pg_database'")
    for tenant in host_vars["tenants"]:
        assert f"{tenant['db_name']}|C" in dbs.splitlines(), (tenant["db_name"], dbs)
    # Each tenant's database admits only its own role, the maintenance databases only superusers.
    names = [t["db_name"] for t in host_vars["tenants"]] + list(layout.POSTGRES_MAINTENANCE_DBS)
    sql = (f"SELECT datname FROM pg_database WHERE datname IN ({','.join(repr(name) for name in names)}) "
           "AND has_database_privilege('public', datname, 'CONNECT')")
    public = host.check_output(f"cd / && runuser -u postgres -- psql -XAtc {shlex.quote(sql)}")
    assert public.split() == [], f"PUBLIC may connect to: {public.split()}"


# GET <path> from the host itself, with python3 (on every host the engines manage; curl need not be): to `address`
# over TLS with the SNI and Host name given and the chain verified against `cafile` (empty: the system's trust
# store), or plain HTTP. Prints the status line's code, then the body.
_HTTP_GET = """
import http.client, socket, ssl, sys
address, port, name, path, tls, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "tls", sys.argv[6]
try:
    if tls:
        context = ssl.create_default_context(cafile=cafile or None)
        connection = http.client.HTTPSConnection(name, port, context=context, timeout=20)
        connection.sock = context.wrap_socket(socket.create_connection((address, port), 20), server_hostname=name)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=20)
    connection.request("GET", path, headers={"Host": name})
    answer = connection.getresponse()
    print(answer.status)
    sys.stdout.write(answer.read().decode("utf-8", "replace"))
except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
    print(f"error {type(exc).__name__}: {exc}")
"""


def _client_versions(host: Any, port: int, name: str = "127.0.0.1", tls: bool = False, cafile: str = "",
                     address: str = "127.0.0.1") -> tuple[str, Any]:
    """(HTTP status or error, parsed JSON body or None) of GET /_matrix/client/versions, asked on the host."""
    result = host.run(shlex.join(["python3", "-c", _HTTP_GET, address, str(port), name, "/_matrix/client/versions",
                                  "tls" if tls else "plain", cafile]))
    code, _, body = result.stdout.partition("\n")
    try:
        return code.strip(), json.loads(body)
    except ValueError:
        return code.strip() or result.stderr.strip(), None


def assert_synapse_tenants(host: Any, host_vars: dict[str, Any]) -> None:
    for tenant in host_vars["tenants"]:
        assert host.service(tenant["unit"]).is_enabled, tenant["unit"]
        assert host.service(tenant["unit"]).is_running, tenant["unit"]
        key = host.file(tenant["signing_key_path"])
        assert key.exists and key.mode == 0o600 and key.user == tenant["unix_user"]
        assert host.file(tenant["homeserver_yaml"]).mode == 0o640
        # Behaviour: the tenant's Synapse answers the client API on its own loopback listener (retried while it
        # starts up), and only there.
        for _ in range(30):
            code, body = _client_versions(host, tenant["synapse_port"])
            if code == "200":
                break
            host.run("sleep 2")
        assert code == "200" and isinstance(body, dict) and body.get("versions"), (tenant["slug"], code, body)
        listening = host.socket(f"tcp://127.0.0.1:{tenant['synapse_port']}")
        assert listening.is_listening and not host.socket(f"tcp://0.0.0.0:{tenant['synapse_port']}").is_listening


# A stand-in for a tenant's Synapse when the nginx scenario runs without one: answers every GET with a JSON body
# naming a token, so the answer through nginx can only have come from this listener.
_UPSTREAM_STUB = """
import http.server, json, sys
port, token = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"versions": ["stub"], "token": token, "path": self.path}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def assert_nginx_tenants(host: Any, host_vars: dict[str, Any]) -> None:
    import secrets

    assert host.service("nginx").is_running and host.service("nginx").is_enabled
    assert host.run("nginx -t -q").rc == 0
    internal = host_vars["platform"]["tls"] == "internal"
    for tenant in host_vars["tenants"]:
        domain, port = tenant["domain"], tenant["synapse_port"]
        assert host.file(tenant["site"]).contains(f"server_name {domain};")
        # TLS: the chain must verify against the internal CA (or the system's trust store for ACME) and name the
        # tenant's domain; a self-signed or wrong-name certificate fails the request below.
        cafile = layout.INTERNAL_CA_CERT if internal else ""
        wrong = _client_versions(host, 443, f"not-{domain}", tls=True, cafile=cafile)
        assert wrong[0].startswith("error"), f"a certificate for not-{domain} was accepted: {wrong}"
        # Proxying: the client API through nginx gives exactly what the tenant's listener gives. Without a Synapse
        # there (this role alone), a stand-in listens on the tenant's port and its token must come back.
        token = None
        if not host.socket(f"tcp://127.0.0.1:{port}").is_listening:
            token = secrets.token_hex(8)
            unit = f"ck-verify-upstream-{tenant['slug']}"
            started = host.run(shlex.join(["systemd-run", "-q", "-p", "CollectMode=inactive-or-failed", "--unit", unit,
                                           "python3", "-c", _UPSTREAM_STUB, str(port), token]))
            assert started.rc == 0, started.stderr
            host.run(f"for i in $(seq 50); do ss -tlnH | grep -q '127.0.0.1:{port} ' && break; sleep 0.2; done")
        try:
            direct = _client_versions(host, port)
            via = _client_versions(host, 443, domain, tls=True, cafile=cafile)
        finally:
            if token:
                host.run(shlex.join(["systemctl", "stop", f"ck-verify-upstream-{tenant['slug']}"]))
        assert via[0] == "200" and via == direct, (domain, "through nginx", via, "directly", direct)
        if token:
            assert via[1].get("token") == token and via[1].get("path") == "/_matrix/client/versions", via


# --- state beyond files: database, unit properties, HTTP answers (issue 18 point 1) ------------------------------

_ROLES_SQL = ("SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, "
              "rolbypassrls, rolconnlimit, rolpassword IS NOT NULL AND rolpassword LIKE 'SCRAM-SHA-256$%' "
              "FROM pg_authid WHERE rolname !~ '^pg_' ORDER BY 1")
_DATABASES_SQL = ("SELECT datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, "
                  "datallowconn, array_to_string(ARRAY(SELECT unnest(datacl)::text ORDER BY 1), ' ') "
                  "FROM pg_database ORDER BY 1")


def database_state(host: Any) -> dict[str, list[str]]:
    """Roles with their attributes (and whether a SCRAM verifier is set, never the verifier) and databases with
    owner, encoding, collation, connection flag and privileges (CONNECT, TEMP), as psql prints them."""
    def psql(sql: str) -> list[str]:
        return host.check_output(f"cd / && runuser -u postgres -- psql -X -tA -F '|' -d postgres -c {shlex.quote(sql)}"
                                 ).splitlines()
    return {"roles": psql(_ROLES_SQL), "databases": psql(_DATABASES_SQL)}


# What a unit's sandbox and limits are, as systemd has loaded them (unit file plus every drop-in).
UNIT_PROPERTIES = (
    "User", "Group", "ExecStart", "Environment", "WorkingDirectory", "UnitFileState", "ActiveState", "Restart",
    "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges", "CapabilityBoundingSet",
    "AmbientCapabilities", "RestrictAddressFamilies", "SystemCallFilter", "ReadWritePaths", "ReadOnlyPaths",
    "MemoryHigh", "MemoryMax", "TasksMax", "CPUQuota", "IPAddressDeny", "IPAddressAllow", "UMask", "DropInPaths",
)


_SET_PROPERTIES = ("IPAddressAllow", "IPAddressDeny", "RestrictAddressFamilies", "CapabilityBoundingSet",
                   "AmbientCapabilities", "SystemCallFilter")


def unit_properties(host: Any, units: list[str]) -> dict[str, dict[str, str]]:
    """UNIT_PROPERTIES of each unit (`systemctl show`), one call for all; the main PID and timestamps left out."""
    out = host.check_output("systemctl show --property=Id," + ",".join(UNIT_PROPERTIES) + " -- "
                            + " ".join(shlex.quote(u) for u in units))
    found: dict[str, dict[str, str]] = {}
    for block in out.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        # ExecStart carries the last run's pid and times (`pid=... start_time=...`): keep path and argv only
        props["ExecStart"] = " ".join(part for part in props.get("ExecStart", "").split(" ; ")
                                      if part.lstrip("{ ").startswith(("path=", "argv[]=")))
        for name in _SET_PROPERTIES:  # sets, printed in no fixed order
            props[name] = " ".join(sorted(props.get(name, "").split()))
        found[props.pop("Id")] = props
    return found


def http_answers(host: Any, domains: list[str], paths: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """`https://<domain><path>` asked on the host itself through nginx (its certificate not checked: the TLS suites
    do that): status, Content-Type, Content-Security-Policy and the body's sha256, per URL. One SSH call."""
    script = ('for u in "$@"; do curl -sk -o /tmp/ck-body -D /tmp/ck-head -w "%{http_code}|%{content_type}|" '
              '--resolve "${u%% *}" "${u##* }"; grep -i "^content-security-policy:" /tmp/ck-head | tr -d "\\r\\n"; '
              'printf "|"; sha256sum < /tmp/ck-body | cut -d" " -f1; done; rm -f /tmp/ck-body /tmp/ck-head')
    urls = [f"https://{d}{p}" for d in domains for p in paths]
    args = [f"{u.split('/')[2]}:443:127.0.0.1 {u}" for u in urls]
    out = host.check_output("sh -c " + shlex.quote(script) + " sh " + " ".join(shlex.quote(a) for a in args))
    return {url: tuple(line.split("|")) for url, line in zip(urls, out.splitlines(), strict=True)}
