"""Check functions fed with chosen input: each branch of a check's verdict, without a host.

The lab tests show the checks pass on a deployed host and fail on a bare one (and with violations injected); these
tests pin down *which* input makes each check fail, including inputs no lab host shows (an nftables ruleset that
accepts everything, a second UID 0, an MD5 password). The host is replaced by a table of command -> output: what
the real commands print, captured from a lab host where noted.
"""

from __future__ import annotations

import copy
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from counselkit import layout
from counselkit.audit import checks
from counselkit.audit.context import CheckContext, Target
from counselkit.audit.guard import Transcript
from counselkit.plan import load_plan
from tests.support import EXAMPLE

DATA = Path(__file__).parent / "data" / "audit"
DEPLOYED_NFT = json.loads((DATA / "nft-ruleset-deployed.json").read_text())  # `nft -j list ruleset` on lab node1


@dataclass
class Answer:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


class TableHost:
    """Answers each command from a table (exact command line, or its first words); anything else fails like a
    missing program, so a check that runs something unexpected sees an error, not a made-up answer."""

    def __init__(self, table: dict[str, Answer | str]):
        self.table = {k: (v if isinstance(v, Answer) else Answer(0, v)) for k, v in table.items()}
        self.ran: list[str] = []

    def run(self, command: str) -> Answer:
        self.ran.append(command)
        if command in self.table:
            return self.table[command]
        words = shlex.split(command)
        for length in range(len(words), 0, -1):
            key = shlex.join(words[:length])
            if key in self.table:
                return self.table[key]
        return Answer(127, "", f"{words[0]}: command not found")


@pytest.fixture(scope="module")
def plan():
    return load_plan(EXAMPLE)


def context(plan, table: dict[str, Answer | str], container: str | None = None) -> CheckContext:
    table = {"systemd-detect-virt --container": Answer(0, container) if container else Answer(1, "none"), **table}
    host_plan = plan.hosts[0]
    target = Target(host_plan.name, "table://", "127.0.0.1", host_plan)
    return CheckContext(TableHost(table), target, plan, Transcript())


# --- firewall ---------------------------------------------------------------------------------------------------

def nft(ruleset: dict[str, Any]) -> dict[str, Answer | str]:
    return {"nft -j list ruleset": json.dumps(ruleset)}


def input_rules(ruleset: dict[str, Any]) -> list[dict[str, Any]]:
    return [item["rule"] for item in ruleset["nftables"] if "rule" in item and item["rule"]["chain"] == "input"]


def test_firewall_deployed_ruleset_passes(plan):
    finding = checks.firewall_default_deny(context(plan, nft(DEPLOYED_NFT)))
    assert finding.status == "pass", finding
    assert "tcp ports [22, 80, 443]" in finding.found


def mutate_policy_accept(ruleset):
    for item in ruleset["nftables"]:
        if "chain" in item and item["chain"].get("hook") == "input":
            item["chain"]["policy"] = "accept"


def mutate_accept_everything(ruleset):
    rule = copy.deepcopy(input_rules(ruleset)[0])
    rule["expr"] = [{"accept": None}]
    ruleset["nftables"].append({"rule": rule})


def mutate_extra_port(ruleset):
    rule = copy.deepcopy(input_rules(ruleset)[0])
    rule["expr"] = [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8008}},
                    {"accept": None}]
    ruleset["nftables"].append({"rule": rule})


def mutate_port_range(ruleset):
    rule = copy.deepcopy(input_rules(ruleset)[0])
    rule["expr"] = [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                               "right": {"range": [8000, 8010]}}}, {"accept": None}]
    ruleset["nftables"].append({"rule": rule})


def mutate_udp_port(ruleset):
    rule = copy.deepcopy(input_rules(ruleset)[0])
    rule["expr"] = [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}},
                    {"accept": None}]
    ruleset["nftables"].append({"rule": rule})


def mutate_other_interface(ruleset):
    rule = copy.deepcopy(input_rules(ruleset)[0])
    rule["expr"] = [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}, {"accept": None}]
    ruleset["nftables"].append({"rule": rule})


def mutate_no_loopback(ruleset):
    ruleset["nftables"] = [item for item in ruleset["nftables"]
                           if not ("rule" in item and item["rule"]["chain"] == "input"
                                   and "iif" in json.dumps(item["rule"]["expr"]))]


def mutate_ip_only(ruleset):
    for item in ruleset["nftables"]:
        for kind in ("table", "chain", "rule"):
            if kind in item:
                item[kind]["family"] = "ip"


def mutate_empty(ruleset):
    ruleset["nftables"] = [item for item in ruleset["nftables"] if "metainfo" in item]


@pytest.mark.parametrize("mutate, problem", [
    (mutate_policy_accept, "no input chain with policy drop"),
    (mutate_accept_everything, "accepts everything"),
    (mutate_extra_port, "tcp ports open beyond the plan: [8008]"),
    (mutate_port_range, "tcp ports open beyond the plan: [8000, 8001"),
    (mutate_udp_port, "accepts udp dport 53"),
    (mutate_other_interface, "accepts interface eth0"),
    (mutate_no_loopback, "no rule accepting loopback traffic"),
    (mutate_ip_only, "the other IP version is unfiltered"),
    (mutate_empty, "the ruleset is empty"),
], ids=lambda value: getattr(value, "__name__", "")[7:] or None)
def test_firewall_violations_fail(plan, mutate, problem):
    ruleset = copy.deepcopy(DEPLOYED_NFT)
    mutate(ruleset)
    finding = checks.firewall_default_deny(context(plan, nft(ruleset)))
    assert finding.status == "fail", finding
    assert problem in finding.found, finding.found


def test_firewall_without_nft_fails_and_garbage_is_an_error(plan):
    assert checks.firewall_default_deny(context(plan, {})).status == "fail"
    assert checks.firewall_default_deny(context(plan, {"nft -j list ruleset": "not json"})).status == "error"


# --- listeners --------------------------------------------------------------------------------------------------

SS_TCP = ("LISTEN 0 511 0.0.0.0:443 0.0.0.0:* users:((\"nginx\",pid=1,fd=6))\n"
          "LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=2,fd=3))\n"
          "LISTEN 0 50 127.0.0.1:8101 0.0.0.0:* users:((\"python\",pid=3,fd=9))\n"
          "LISTEN 0 244 [::1]:5432 [::]:* users:((\"postgres\",pid=4,fd=5))\n")


def test_listeners_loopback_and_public_ports_pass(plan):
    ctx = context(plan, {"ss -tlnpH": SS_TCP, "ss -ulnpH": ""})
    assert checks.listeners_public_only(ctx).status == "pass"


@pytest.mark.parametrize("extra, shown", [
    ("LISTEN 0 5 0.0.0.0:8099 0.0.0.0:* users:((\"python3\",pid=9,fd=3))\n", "tcp 0.0.0.0:8099"),
    ("LISTEN 0 5 [::]:5432 [::]:* users:((\"postgres\",pid=4,fd=6))\n", "tcp :::5432"),
    ("LISTEN 0 5 10.0.0.5%eth0:8008 0.0.0.0:*\n", "tcp 10.0.0.5:8008"),
])
def test_listeners_beyond_loopback_fail(plan, extra, shown):
    ctx = context(plan, {"ss -tlnpH": SS_TCP + extra, "ss -ulnpH": ""})
    finding = checks.listeners_public_only(ctx)
    assert finding.status == "fail" and shown in finding.found, finding


def test_a_public_udp_listener_fails_even_on_a_public_port_number(plan):
    ctx = context(plan, {"ss -tlnpH": SS_TCP, "ss -ulnpH": "UNCONN 0 0 0.0.0.0:443 0.0.0.0:*\n"})
    assert checks.listeners_public_only(ctx).status == "fail"


def test_listeners_without_ss_is_an_error(plan):
    assert checks.listeners_public_only(context(plan, {})).status == "error"


# --- SSH ------------------------------------------------------------------------------------------------------

SSHD_OK = "passwordauthentication no\nkbdinteractiveauthentication no\npermitemptypasswords no\npubkeyauthentication yes\n" \
          "permitrootlogin prohibit-password\n"


@pytest.mark.parametrize("line", ["passwordauthentication yes", "kbdinteractiveauthentication yes",
                                  "permitemptypasswords yes", "pubkeyauthentication no"])
def test_ssh_password_logins_fail(plan, line):
    ok = checks.ssh_password_auth_disabled(context(plan, {"sshd -T": SSHD_OK}))
    assert ok.status == "pass", ok
    # sshd -T prints each key once; the check takes the first, as sshd does: put the violation first.
    bad = checks.ssh_password_auth_disabled(context(plan, {"sshd -T": line + "\n" + SSHD_OK}))
    assert bad.status == "fail" and line.split()[0] in bad.found, bad


@pytest.mark.parametrize("value, status", [("prohibit-password", "pass"), ("no", "pass"), ("yes", "fail")])
def test_ssh_root_login(plan, value, status):
    ctx = context(plan, {"sshd -T": f"permitrootlogin {value}\n"})
    assert checks.ssh_root_login_key_only(ctx).status == status


def test_ssh_without_sshd_fails(plan):
    assert checks.ssh_password_auth_disabled(context(plan, {})).status == "fail"
    assert checks.ssh_root_login_key_only(context(plan, {})).status == "fail"


# --- accounts ---------------------------------------------------------------------------------------------------

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nanna:x:1000:1000::/home/anna:/bin/bash\n"
GROUP = "root:x:0:\ndaemon:x:1:\nanna:x:1000:\n"


@pytest.mark.parametrize("extra, problem", [
    ("", None),
    ("toor:x:0:0::/root:/bin/bash\n", "UID 0: root, toor"),
    ("anna2:x:1000:1000::/home/anna2:/bin/bash\n", "UID 1000 shared by anna, anna2"),
    ("anna:x:1001:1000::/home/anna:/bin/bash\n", "user name anna appears 2 times"),
    ("ghost:x:1002:4242::/:/usr/sbin/nologin\n", "ghost: primary GID 4242 not defined"),
])
def test_accounts_unique_ids(plan, extra, problem):
    finding = checks.accounts_unique_ids(context(plan, {"getent passwd": PASSWD + extra, "getent group": GROUP}))
    if problem is None:
        assert finding.status == "pass", finding
    else:
        assert finding.status == "fail" and problem in finding.found, finding


def test_accounts_with_an_empty_password_fail(plan):
    status = "root L 2026-11-01 0 99999 7 -1\nanna P 2026-11-01 0 99999 7 -1\n"
    assert checks.accounts_no_empty_passwords(context(plan, {"passwd -S -a": status})).status == "pass"
    bad = checks.accounts_no_empty_passwords(context(plan, {"passwd -S -a": status + "ck NP 2026-11-01 0 99999 7 -1\n"}))
    assert bad.status == "fail" and "ck" in bad.found


# --- kernel, audit rules, time: the container branches --------------------------------------------------------

def sysctl_table(value_ok: bool, configured: dict[str, str]) -> dict[str, Answer | str]:
    table: dict[str, Answer | str] = {}
    for key, allowed in checks.KERNEL_SYSCTLS.items():
        table[f"sysctl -n {key}"] = sorted(allowed)[0] if value_ok else "0" if "0" not in allowed else "9"
    grep = shlex.join(["grep", "-rsHE", "^[[:space:]]*-?[a-z0-9_.]+[[:space:]]*=", *checks.SYSCTL_DIRS])
    table[grep] = "".join(f"{layout.SYSCTL_KERNEL_FILE}:{k} = {v}\n" for k, v in configured.items())
    return table


def test_sysctl_kernel_branches(plan):
    good = {k: sorted(v)[0] for k, v in checks.KERNEL_SYSCTLS.items()}
    assert checks.sysctl_kernel(context(plan, sysctl_table(True, {}))).status == "pass"
    assert checks.sysctl_kernel(context(plan, sysctl_table(False, good))).status == "fail"  # a real host: effective values count
    assert checks.sysctl_kernel(context(plan, sysctl_table(False, good), container="systemd-nspawn")).status == "na"
    missing = dict(list(good.items())[1:])
    finding = checks.sysctl_kernel(context(plan, sysctl_table(False, missing), container="systemd-nspawn"))
    assert finding.status == "fail" and next(iter(good)) in finding.found


def audit_table(active: str, loaded: str, configured: str) -> dict[str, Answer | str]:
    return {"systemctl is-active auditd.service": Answer(0 if active == "active" else 3, active),
            "auditctl -l": Answer(0, loaded) if loaded else Answer(1, "", "no audit"),
            "grep -rhsE '^-[wa] ' /etc/audit/rules.d /etc/audit/audit.rules": configured}


def test_auditd_rules_branches(plan):
    rules = "".join(f"-w {path} -p wa -k counselkit\n" for path in checks.AUDIT_WATCHED)
    assert checks.auditd_rules(context(plan, audit_table("active", rules, rules))).status == "pass"
    assert checks.auditd_rules(context(plan, audit_table("inactive", "", rules))).status == "fail"
    assert checks.auditd_rules(context(plan, audit_table("inactive", "", rules), container="systemd-nspawn")).status == "na"
    partial = "".join(line + "\n" for line in rules.splitlines()[1:])
    finding = checks.auditd_rules(context(plan, audit_table("inactive", "", partial), container="systemd-nspawn"))
    assert finding.status == "fail" and checks.AUDIT_WATCHED[0] in finding.found


def time_table(ntp: str, synced: str, timesyncd: str) -> dict[str, Answer | str]:
    return {"timedatectl show": f"NTP={ntp}\nNTPSynchronized={synced}\n",
            "systemctl is-enabled systemd-timesyncd.service": timesyncd,
            "systemctl is-enabled chrony.service": Answer(1, "")}


def test_time_synchronised_branches(plan):
    assert checks.time_synchronised(context(plan, time_table("yes", "yes", "enabled"))).status == "pass"
    assert checks.time_synchronised(context(plan, time_table("yes", "no", "enabled"))).status == "fail"
    assert checks.time_synchronised(context(plan, time_table("no", "no", "enabled"), container="lxc")).status == "na"
    assert checks.time_synchronised(context(plan, time_table("no", "no", "disabled"), container="lxc")).status == "fail"


# --- PostgreSQL -----------------------------------------------------------------------------------------------

class PsqlHost(TableHost):
    """Answers the two PostgreSQL checks' queries by what they select."""

    def __init__(self, roles: str, public: str, hashed: str):
        super().__init__({})
        self.answers = {"rolsuper": roles, "has_database_privilege": public, "SCRAM-SHA-256": hashed}

    def run(self, command: str) -> Answer:
        self.ran.append(command)
        for marker, output in self.answers.items():
            if marker in command:
                return Answer(0, output)
        return Answer(0, "none\n") if "systemd-detect-virt" in command else Answer(127, "", "not found")


def db_context(plan, roles: str, public: str, hashed: str) -> CheckContext:
    host_plan = plan.hosts[0]
    return CheckContext(PsqlHost(roles, public, hashed), Target(host_plan.name, "table://", "127.0.0.1", host_plan),
                        plan, Transcript())


def db_rows(plan, flags: dict[str, str] | None = None, connect: dict[str, str] | None = None,
            scram: dict[str, str] | None = None) -> tuple[str, str, str]:
    tenants = plan.hosts[0].tenants
    roles = "".join(f"{t.db_user}|{(flags or {}).get(t.db_user, 'f|f|f|f|f')}\n" for t in tenants)
    databases = [t.db_name for t in tenants] + list(layout.POSTGRES_MAINTENANCE_DBS)
    public = "".join(f"{d}|{(connect or {}).get(d, 'f')}\n" for d in databases)
    hashed = "".join(f"{t.db_user}|{(scram or {}).get(t.db_user, 't')}\n" for t in tenants)
    return roles, public, hashed


def test_postgres_least_privilege_and_hashes(plan):
    tenant = plan.hosts[0].tenants[0]
    assert checks.postgres_roles_least_privilege(db_context(plan, *db_rows(plan))).status == "pass"
    assert checks.postgres_passwords_hashed(db_context(plan, *db_rows(plan))).status == "pass"
    createdb = checks.postgres_roles_least_privilege(db_context(plan, *db_rows(plan, flags={tenant.db_user: "f|t|f|f|f"})))
    assert createdb.status == "fail" and f"role {tenant.db_user} has CREATEDB" in createdb.found
    public = checks.postgres_roles_least_privilege(db_context(plan, *db_rows(plan, connect={tenant.db_name: "t"})))
    assert public.status == "fail" and f"PUBLIC may connect to {tenant.db_name}" in public.found
    md5 = checks.postgres_passwords_hashed(db_context(plan, *db_rows(plan, scram={tenant.db_user: "f"})))
    assert md5.status == "fail" and tenant.db_user in md5.found
    roles, public_rows, hashed = db_rows(plan)
    missing = checks.postgres_roles_least_privilege(db_context(plan, roles.split("\n", 1)[1], public_rows, hashed))
    assert missing.status == "fail" and f"role {tenant.db_user} missing" in missing.found


def test_table_host_refuses_what_it_was_not_given():
    host = TableHost({"true": ""})
    assert host.run("true").rc == 0 and host.run("rm -rf /").rc == 127
