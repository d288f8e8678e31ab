"""Parity: the same tenants.yaml deployed with pyinfra onto one lab host and with Ansible (site.yml) onto another.

Compared: installed packages, enabled units, active units, listening sockets, the nftables ruleset, owner, mode and
content of every managed file and directory (from the template contract, counselkit.render, and layout — neither
engine's own list), PostgreSQL roles, databases and privileges, the properties of every unit the specs install, the
HTTP answers through nginx of every tenant, and what each run printed or showed in `ps`. Any difference fails with
a readable diff.

Two pairs of hosts, each deployed once per session by both engines at once (tests/lab/conftest.py):
- "example": the example tenants with backup (node3 pyinfra, node8 Ansible), shared with the suites that need a
  deployed site (`example_deploys`);
- "keycloak": the same with Keycloak configured, up to its release archive, which no reachable registry has
  (node7 pyinfra, node10 Ansible, `keycloak_deploys`): Java, account, directories, keycloak.conf and its secrets'
  files, the unit, Keycloak's database role and database, the Synapse OIDC files, nginx's Keycloak paths and the
  backup of Keycloak's database. What follows the archive (upload, build, start, realms, login themes) is not
  compared: the Ansible role does not do it, and nothing here could run it.
For each pair this suite drifts the database roles on both hosts and runs both engines again, and compares the
state after that drift-repair run.

What legitimately differs between two hosts is excluded, each with its reason (LEGITIMATE_DIFFERENCES); nothing
else is. Secrets come from one vault per pair, so homeserver.yaml, TLS keys and DB passwords must be identical.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from counselkit import layout, render
from counselkit.lab import ssh
from counselkit.pgscram import verifier_matches
from counselkit.plan import load_plan
from counselkit.secrets import SecretStore
from counselkit.site import lab_site
from tests.checks import leaks, state
from tests.lab.engines import EngineRuns, run_both
from tests.support import environment_kept

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PAIRS = {"example": "example_deploys", "keycloak": "keycloak_deploys"}  # pair -> its session fixture
# Components a pair's deploys leave out: the example configures no Keycloak (the keycloak pair does, up to the
# archive). Backup is deployed by both pairs (the lab S3 server's keys are in each pair's vault).
NOT_DEPLOYED = {"example": frozenset({"keycloak"}), "keycloak": frozenset()}

# Paths whose content differs between any two hosts, whoever deploys; compared by owner and mode only.
LEGITIMATE_DIFFERENCES = {
    "signing_key": "each Synapse signing key is generated on its host (never copied): content differs by design",
    "host_name": "a file may name the host it is on (a backup job's HOST_TAG, restic's --host): such content is "
                 "compared with each host's own name replaced by one placeholder, so any other difference — "
                 "another host's name included — still fails",
}
HOST_PLACEHOLDER = "<this host>"
# Units and packages that differ between two identical hosts without any deploy involved: none known. Keep empty
# unless a reason can be written down here.
IGNORED_UNITS: dict[str, str] = {}
IGNORED_PACKAGES: dict[str, str] = {}


@dataclass
class Pair:
    """One pair of hosts after both engines' first runs and, after the drift, their second runs."""

    name: str
    pyinfra: str  # host names
    ansible: str
    tenants: dict[str, Path]  # tenants file by host name (one vault beside them)
    env: dict[str, str]  # the vault password file
    first: EngineRuns
    second: EngineRuns
    hosts: dict[str, Any]  # testinfra hosts by name
    host_vars: dict[str, dict[str, Any]]

    @property
    def names(self) -> tuple[str, str]:
        return self.pyinfra, self.ansible

    @property
    def not_deployed(self) -> frozenset[str]:
        return NOT_DEPLOYED[self.name]

    @property
    def keycloak(self) -> bool:
        return "keycloak" not in self.not_deployed

    def same_but_own_host_name(self, ours: str, theirs: str) -> bool:
        """LEGITIMATE_DIFFERENCES["host_name"]: equal once each host's own name is the placeholder."""
        return ours.replace(self.pyinfra, HOST_PLACEHOLDER) == theirs.replace(self.ansible, HOST_PLACEHOLDER)


def tenant_slugs(tenants_file: Path) -> list[str]:
    """The tenants a pair's file deploys (the keycloak pair has fewer than the example)."""
    return [entry["slug"] for entry in yaml.safe_load(tenants_file.read_text())["tenants"]]


def db_roles(tenants_file: Path, keycloak: bool) -> list[str]:
    """The roles the deploys made on a host: each tenant's, and Keycloak's where it is configured."""
    roles = [layout.tenant_names(slug)["db_user"] for slug in tenant_slugs(tenants_file)]
    return roles + ([layout.KEYCLOAK_DB_USER] if keycloak else [])


def drift_roles(lab, tenants: dict[str, Path], keycloak: bool) -> None:
    """The roles lose their password and login (as if changed by hand): both engines must repair them. No secret in
    this command line."""
    for name, tenants_file in tenants.items():
        for role in db_roles(tenants_file, keycloak):
            ssh.run(lab.host(name), f"cd / && runuser -u postgres -- psql -X -q -d postgres "
                                    f"-c 'ALTER ROLE {role} NOLOGIN PASSWORD NULL'")


def ssh_host(lab, name: str) -> Any:
    import testinfra

    h = lab.host(name)
    return testinfra.get_host(
        f"ssh://{h.ssh_user}@{h.address}", ssh_identity_file=str(h.ssh_key_path),
        ssh_extra_args=f"-F none -o UserKnownHostsFile={h.known_hosts_path} -o StrictHostKeyChecking=yes")


def make_pair(lab, name: str, deploys: dict[str, Any]) -> Pair:
    """The pair's second runs, after the drift: made once per session (`pairs` keeps them)."""
    hosts = deploys["hosts"]
    names = (hosts["pyinfra"].name, hosts["ansible"].name)
    tenants = {hosts[engine].name: deploys["tenants"][engine] for engine in ("pyinfra", "ansible")}
    drift_roles(lab, tenants, deploys["choices"].keycloak)
    second = run_both(hosts["pyinfra"], tenants[names[0]], hosts["ansible"], tenants[names[1]], deploys["env"],
                      deploys["choices"])
    problems = second.failures(*names)
    assert not problems, f"{name}: second runs (drift repair):\n" + "\n".join(problems)
    host_vars = {host: render.host_vars(load_plan(path, site=lab_site(lab)), host) for host, path in tenants.items()}
    return Pair(name, *names, tenants=tenants, env=deploys["env"], first=deploys["runs"], second=second,
                hosts={n: ssh_host(lab, n) for n in names}, host_vars=host_vars)


@pytest.fixture(scope="session")
def pairs() -> dict[str, Pair]:
    """Each pair once made (make_pair), whichever test asks first: the tests of the two pairs run in any order."""
    return {}


@pytest.fixture(params=sorted(PAIRS))
def pair(request: pytest.FixtureRequest, lab, pairs: dict[str, Pair]) -> Iterator[Pair]:
    """A pair, with the in-process vault (load_plan, SecretStore) pointed at its vault for the test; the rest of the
    session gets its environment back."""
    name = request.param
    with environment_kept("COUNSELKIT_VAULT_PASSWORD_FILE"):
        deploys = request.getfixturevalue(PAIRS[name])
        os.environ.update(deploys["env"])
        if name not in pairs:
            pairs[name] = make_pair(lab, name, deploys)
        yield pairs[name]


def process_args(pair: Pair) -> dict[str, set[str]]:
    """Every distinct `ps -eo args` line seen on each host of the pair while the four runs ran."""
    first, second = pair.first.process_args, pair.second.process_args
    return {name: first.get(name, set()) | second.get(name, set()) for name in pair.names}


def secret_patterns(lab, pair: Pair) -> dict[str, str]:
    """Every secret of the pair's one vault (and the SCRAM verifiers' keys) -> its reference."""
    store = SecretStore.open(pair.tenants[pair.pyinfra])
    plans = [load_plan(path, site=lab_site(lab)) for path in pair.tenants.values()]
    patterns = {k: v for plan in plans for k, v in leaks.secret_patterns(store, plan).items()}
    assert len({label for label in patterns.values()}) >= 10, "found too few secrets to look for"
    return patterns


def ansible_changed(output: str) -> int:
    """The `changed=N` of the PLAY RECAP line(s) of an ansible-playbook run, summed over hosts."""
    counts = re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", output, flags=re.MULTILINE)
    assert counts, f"no PLAY RECAP in the Ansible output:\n{output[-2000:]}"
    return sum(int(n) for n in counts)


def set_diff(pair: Pair, name: str, left: set[str], right: set[str]) -> str:
    only_left, only_right = sorted(left - right), sorted(right - left)
    if not only_left and not only_right:
        return ""
    lines = [f"{pair.name}: {name} differ:"]
    lines += [f"  only with pyinfra ({pair.pyinfra}): {item}" for item in only_left]
    lines += [f"  only with Ansible ({pair.ansible}): {item}" for item in only_right]
    return "\n".join(lines)


def both(pair: Pair, read: Any, *args: Any) -> tuple[Any, Any]:
    """read(testinfra host, *args) on the pyinfra host and on the Ansible host."""
    return read(pair.hosts[pair.pyinfra], *args), read(pair.hosts[pair.ansible], *args)


def test_both_engines_changed_the_hosts_on_their_first_run(pair):
    """Each session's deploys have fresh secrets, so a first run that reports no change means the change parsers
    (or the runs) are broken, and every "changes nothing" claim elsewhere would be worthless."""
    first = pair.first
    assert first.pyinfra.changes > 0, f"pyinfra reported no change:\n{first.pyinfra.output[-3000:]}"
    assert ansible_changed(first.ansible_output) > 0, f"Ansible reported no change:\n{first.ansible_output[-3000:]}"


def test_packages(pair):
    left, right = (found - set(IGNORED_PACKAGES) for found in both(pair, state.packages))
    assert not set_diff(pair, "installed packages", left, right), set_diff(pair, "installed packages", left, right)


def test_enabled_and_active_units(pair):
    problems = []
    for name, fn in (("enabled units", state.enabled_units), ("active units", state.active_units)):
        left, right = (found - set(IGNORED_UNITS) for found in both(pair, fn))
        problems.append(set_diff(pair, name, left, right))
    assert not any(problems), "\n".join(p for p in problems if p)


def test_listening_sockets(pair):
    left, right = both(pair, state.listening)
    assert not set_diff(pair, "listening sockets", left, right), set_diff(pair, "listening sockets", left, right)


def test_nftables_ruleset(pair):
    left, right = both(pair, state.nft_ruleset)
    diff = "".join(difflib.unified_diff(left.splitlines(True), right.splitlines(True), f"pyinfra/{pair.pyinfra}",
                                        f"ansible/{pair.ansible}"))
    assert not diff, f"{pair.name}: nftables rulesets differ:\n{diff}"


def managed_paths(pair: Pair, host: str) -> list[str]:
    """What the deploys manage on the host, without what follows Keycloak's archive (neither pair goes past it)."""
    vars = pair.host_vars[host]
    after_archive = set(state.after_keycloak_archive(vars)) if pair.keycloak else set()
    return [path for path in state.managed_paths(vars, pair.not_deployed) if path not in after_archive]


def test_managed_files_content_owner_mode(pair):
    paths = managed_paths(pair, pair.pyinfra)
    assert paths == managed_paths(pair, pair.ansible), "the two plans manage different files"
    if pair.keycloak:
        assert layout.KEYCLOAK_CONF in paths and state.after_keycloak_archive(pair.host_vars[pair.pyinfra]), paths
    signing_keys = {t["signing_key_path"] for t in pair.host_vars[pair.pyinfra]["tenants"]}
    hashed = set(paths) - signing_keys  # LEGITIMATE_DIFFERENCES["signing_key"]
    ours, theirs = both(pair, state.file_states, list(paths), hashed)
    problems = []
    for path in paths:
        left, right = ours[path], theirs[path]
        if left == right and left.get("exists"):
            continue
        a = b = ""
        if left.get("sha256") != right.get("sha256"):
            a, b = both(pair, state.file_text, path)
            without_hash = [{k: v for k, v in side.items() if k != "sha256"} for side in (left, right)]
            if left.get("exists") and without_hash[0] == without_hash[1] and pair.same_but_own_host_name(a, b):
                continue  # LEGITIMATE_DIFFERENCES["host_name"]
        problems.append(f"{path}:\n  pyinfra: {left}\n  ansible: {right}")
        if a or b:
            problems.append("".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "pyinfra", "ansible")))
    assert not problems, f"{pair.name}: managed files differ (or are missing on both):\n" + "\n".join(problems)


def test_managed_directories_owner_mode(pair):
    paths = list(state.managed_dirs(pair.host_vars[pair.pyinfra], pair.not_deployed))
    ours, theirs = both(pair, state.file_states, paths)
    problems = []
    for path in paths:
        left, right = ours[path], theirs[path]
        if left != right or not left.get("exists"):
            problems.append(f"{path}:\n  pyinfra: {left}\n  ansible: {right}")
    assert not problems, f"{pair.name}: managed directories differ:\n" + "\n".join(problems)


def test_database_roles_attributes_and_privileges(pair):
    """PostgreSQL as both engines left it after the drift repair: every role's attributes and whether it has a SCRAM
    verifier, every database's owner, encoding, collation and privileges (CONNECT only for its tenant)."""
    ours, theirs = both(pair, state.database_state)
    assert ours["roles"], "no role read"
    if pair.keycloak:
        assert any(line.split("|")[0] == layout.KEYCLOAK_DB_USER for line in ours["roles"]), ours["roles"]
    problems = [set_diff(pair, f"PostgreSQL {what}", set(ours[what]), set(theirs[what])) for what in ("roles", "databases")]
    assert not any(problems), "\n".join(p for p in problems if p)


def test_unit_properties(pair):
    """Each unit the specs install, as systemd loaded it (unit file and drop-ins): user, sandbox, limits, address
    allow/deny lists, system-call filter, state."""
    units = state.deployed_units(pair.host_vars[pair.pyinfra], pair.not_deployed)
    assert any(u.startswith("matrix-synapse@") for u in units), units
    if pair.keycloak:
        assert layout.KEYCLOAK_UNIT in units, units
    ours, theirs = both(pair, state.unit_properties, units)
    problems = [f"{unit} {name}:\n  pyinfra: {ours[unit].get(name)}\n  ansible: {theirs[unit].get(name)}"
                for unit in units for name in state.UNIT_PROPERTIES if ours[unit].get(name) != theirs[unit].get(name)]
    assert not problems, f"{pair.name}: unit properties differ:\n" + "\n".join(problems)


HTTP_PATHS = ("/", "/config.json", "/app.js", "/crypto.wasm", "/_matrix/client/versions", "/_matrix/client/v3/login",
              "/_counselkit/v1/centre", "/.well-known/matrix/client", "/_synapse/admin/v1/server_version",
              "/no-such-page")
KEYCLOAK_PATHS = (f"{layout.KEYCLOAK_PATH}/admin/", f"{layout.KEYCLOAK_PATH}/realms/master/",
                  f"{layout.KEYCLOAK_PATH}/resources/")


def test_http_answers_through_nginx(pair):
    """Every tenant asked through its host's nginx (the page, its config and bundle, Synapse's client API and its
    login flows, the counselling API, the blocked admin API, an unknown path, and Keycloak's paths: every tenant's
    realm on every tenant's name): the same status, type, CSP and body on both hosts."""
    tenants = pair.host_vars[pair.pyinfra]["tenants"]
    domains = [t["domain"] for t in tenants]
    realms = tuple(f"{layout.KEYCLOAK_PATH}/realms/{t['slug']}/" for t in tenants)
    ours, theirs = both(pair, state.http_answers, domains, HTTP_PATHS + KEYCLOAK_PATHS + realms)
    statuses = {url: answer[0] for url, answer in ours.items()}
    assert all(statuses[f"https://{d}/_matrix/client/versions"] == "200" for d in domains), statuses
    if pair.keycloak:  # the admin console only from platform.admin_networks; a realm goes to Keycloak, not there yet
        own_realm = {f"https://{t['domain']}{layout.KEYCLOAK_PATH}/realms/{t['slug']}/" for t in tenants}
        assert all(statuses[f"https://{d}{layout.KEYCLOAK_PATH}/admin/"] == "403" for d in domains), statuses
        assert all(statuses[url] == "502" for url in own_realm), statuses
    problems = [f"{url}:\n  pyinfra: {ours[url]}\n  ansible: {theirs[url]}" for url in ours if ours[url] != theirs[url]]
    assert not problems, f"{pair.name}: answers differ:\n" + "\n".join(problems)


# --- No secret where it must not be (issue 14.4): one pass over what the deploys above produced ------------------


def test_no_secret_in_either_engines_output(lab, pair):
    patterns = secret_patterns(lab, pair)
    problems = {f"{engine} ({run})": leaks.found_in(text, patterns)
                for run, runs in (("first", pair.first), ("second", pair.second))
                for engine, text in (("pyinfra", runs.pyinfra.output), ("ansible", runs.ansible_output))}
    assert not any(problems.values()), f"{pair.name}: secrets in the deploy output: {problems}"


def test_no_secret_in_process_arguments(lab, pair):
    patterns, problems = secret_patterns(lab, pair), {}
    seen_during = process_args(pair)
    for name, lines in seen_during.items():
        after = leaks.ProcessSampler(lab.host(name))  # and once more after the deploy
        time.sleep(1)
        seen = lines | after.stop()
        assert len(seen) > 20, f"{name}: the ps sampler saw almost nothing ({len(seen)} lines)"
        problems[name] = leaks.found_in("\n".join(seen), patterns)
    assert set(seen_during) == set(pair.names)
    assert not any(problems.values()), f"{pair.name}: secrets in `ps -eo args` during or after the deploy: {problems}"


def test_drifted_database_roles_were_repaired_by_both_engines(lab, pair):
    store = SecretStore.open(pair.tenants[pair.pyinfra])
    plan = load_plan(pair.tenants[pair.pyinfra])
    problems = []
    for name in pair.names:
        refs = [layout.tenant_secret_ref(slug, "synapse_db_password") for slug in tenant_slugs(pair.tenants[name])]
        if pair.keycloak:
            refs.append(plan.platform_secrets["keycloak_db_password"])
        roles = db_roles(pair.tenants[name], pair.keycloak)
        assert len(roles) == len(refs)
        for role, ref in zip(roles, refs):
            row = ssh.run(lab.host(name), f"cd / && runuser -u postgres -- psql -X -At -d postgres -c "
                                          f"\"SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = '{role}'\"")
            login, _, stored = row.stdout.strip().partition("|")
            if login != "t" or not verifier_matches(stored, store.get(ref)):  # the verifier stays in this process
                problems.append(f"{name}: {role} (login {login!r}) does not verify its current secret")
    assert not problems, "\n".join(problems)


def test_no_secret_in_a_world_readable_file(lab, pair):
    patterns = secret_patterns(lab, pair)
    problems = {name: leaks.world_readable_hits(lab.host(name), patterns) for name in pair.names}
    assert not any(problems.values()), f"{pair.name}: secrets in files every local account may read: {problems}"
