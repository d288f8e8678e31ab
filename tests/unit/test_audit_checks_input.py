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


# --- SSH algorithms, root login off ---------------------------------------------------------------------------

SSHD_ALGOS = ("kexalgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256\n"
              "ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com\n"
              "macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com\n"
              "hostkeyalgorithms ssh-ed25519,rsa-sha2-512\n")


@pytest.mark.parametrize("line, problem", [
    (None, None),
    ("kexalgorithms curve25519-sha256,diffie-hellman-group14-sha256", "kexalgorithms: not allowed diffie-hellman-group14-sha256"),
    ("ciphers aes128-cbc", "ciphers: not allowed aes128-cbc"),
    ("macs hmac-sha1", "macs: not allowed hmac-sha1"),
    ("hostkeyalgorithms ssh-rsa", "hostkeyalgorithms: not allowed ssh-rsa"),
    ("macs ", "macs: nothing reported"),
])
def test_ssh_modern_algorithms(plan, line, problem):
    finding = checks.ssh_modern_algorithms(context(plan, {"sshd -T": (line + "\n" if line else "") + SSHD_ALGOS}))
    if problem is None:
        assert finding.status == "pass", finding
    else:
        assert finding.status == "fail" and problem in finding.found, finding
    assert checks.ssh_modern_algorithms(context(plan, {})).status == "fail"


def test_ssh_root_login_off_branches(plan):
    root_plan = plan.hosts[0]
    assert not root_plan.sudo  # the example deploys as root (its first run)
    assert checks.ssh_root_login_off(context(plan, {"sshd -T": "permitrootlogin no\n"})).status == "pass"
    flagged = checks.ssh_root_login_off(context(plan, {"sshd -T": "permitrootlogin prohibit-password\n"}))
    assert flagged.status == "na" and "ssh_user" in flagged.reason
    assert checks.ssh_root_login_off(context(plan, {})).status == "fail"


# --- admins, sudo group, sudoers --------------------------------------------------------------------------------

def admin_table(plan, keys: dict[str, str] | None = None, groups: dict[str, str] | None = None,
                missing: str | None = None) -> dict[str, Answer | str]:
    table: dict[str, Answer | str] = {"sshd -T": "authorizedkeysfile .ssh/authorized_keys\n"}
    for admin in plan.platform.admins:
        if admin.name == missing:
            table[f"getent passwd {admin.name}"] = Answer(2, "")
            continue
        table[f"getent passwd {admin.name}"] = f"{admin.name}:x:1001:1001::/home/{admin.name}:/bin/bash\n"
        table[f"cat /home/{admin.name}/.ssh/authorized_keys"] = (keys or {}).get(admin.name, admin.ssh_key + "\n")
        table[f"id -nG {admin.name}"] = (groups or {}).get(admin.name, f"{admin.name} {layout.ADMIN_GROUP}\n")
    return table


def test_admins_with_their_keys_only(plan):
    anna, jonas = plan.platform.admins[0], plan.platform.admins[1]
    assert checks.accounts_admins_with_keys(context(plan, admin_table(plan))).status == "pass"
    cases = [
        (admin_table(plan, missing=anna.name), f"{anna.name}: no such account"),
        (admin_table(plan, keys={anna.name: jonas.ssh_key + "\n"}), f"{anna.name}: planned key not in"),
        (admin_table(plan, keys={anna.name: anna.ssh_key + "\n" + jonas.ssh_key + "\n"}), "1 unplanned key(s)"),
        (admin_table(plan, groups={anna.name: "anna users\n"}), f"not in group {layout.ADMIN_GROUP}"),
    ]
    for table, problem in cases:
        finding = checks.accounts_admins_with_keys(context(plan, table))
        assert finding.status == "fail" and problem in finding.found, (problem, finding)
    no_file = {k: v for k, v in admin_table(plan).items() if not k.startswith(f"cat /home/{anna.name}/")}
    assert "missing" in checks.accounts_admins_with_keys(context(plan, no_file)).found


def test_sudo_group_matches_plan(plan):
    planned = ",".join(a.name for a in plan.platform.admins)
    ok = {f"getent group {layout.ADMIN_GROUP}": f"{layout.ADMIN_GROUP}:x:900:{planned}\n", "getent group sudo": "sudo:x:27:\n"}
    assert checks.sudo_group_matches_plan(context(plan, ok)).status == "pass"
    extra = {**ok, "getent group sudo": "sudo:x:27:mallory\n"}
    assert "unplanned members of sudo: mallory" in checks.sudo_group_matches_plan(context(plan, extra)).found
    short = {**ok, f"getent group {layout.ADMIN_GROUP}": f"{layout.ADMIN_GROUP}:x:900:{plan.platform.admins[0].name}\n"}
    assert f"lacks {plan.platform.admins[1].name}" in checks.sudo_group_matches_plan(context(plan, short)).found
    none = {"getent group sudo": "sudo:x:27:\n"}
    assert "does not exist" in checks.sudo_group_matches_plan(context(plan, none)).found


SUDOERS_FIND = "find /etc/sudoers /etc/sudoers.d -maxdepth 1 -type f -printf '%p %u %g %m\\n'"


@pytest.mark.parametrize("row, status", [
    ("/etc/sudoers.d/counselkit root root 440", "pass"),
    ("/etc/sudoers.d/counselkit root root 444", "fail"),   # readable by others
    ("/etc/sudoers.d/counselkit root root 460", "fail"),   # group-writable
    ("/etc/sudoers.d/counselkit anna root 440", "fail"),   # not root's
])
def test_sudoers_permissions(plan, row, status):
    table = {SUDOERS_FIND: f"/etc/sudoers root root 440\n{row}\n"}
    assert checks.sudoers_permissions(context(plan, table)).status == status
    assert checks.sudoers_permissions(context(plan, {})).status == "fail"  # sudo not installed


# --- network sysctls, patching, journal, secrets at rest ---------------------------------------------------------

def test_sysctl_network(plan):
    good = {f"sysctl -n {k}": sorted(v)[0] for k, v in checks.NETWORK_SYSCTLS.items()}
    assert checks.sysctl_network(context(plan, good)).status == "pass"
    bad = {**good, "sysctl -n net.ipv4.conf.all.accept_redirects": "1"}
    finding = checks.sysctl_network(context(plan, bad))
    assert finding.status == "fail" and "net.ipv4.conf.all.accept_redirects = 1" in finding.found
    absent = {k: v for k, v in good.items() if "tcp_syncookies" not in k}
    assert "net.ipv4.tcp_syncookies = (absent)" in checks.sysctl_network(context(plan, absent)).found


def test_configured_sysctls_etc_overrides_the_same_file_in_usr_lib(plan):
    """systemd-sysctl: a file in /etc replaces the file of the same name in /usr/lib; later names win."""
    table = sysctl_table(False, {})
    grep = next(k for k in table if k.startswith("grep "))
    table[grep] = ("/etc/sysctl.d/61-counselkit-kernel.conf:kernel.kptr_restrict = 2\n"
                   "/usr/lib/sysctl.d/61-counselkit-kernel.conf:kernel.kptr_restrict = 0\n"
                   "/usr/lib/sysctl.d/10-a.conf:kernel.sysrq = 1\n/etc/sysctl.d/90-z.conf:kernel.sysrq = 0\n")
    configured = checks.kernel._configured_sysctls(context(plan, table))
    assert configured == {"kernel.kptr_restrict": "2", "kernel.sysrq": "0"}


UU_DUMP = ('APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n'
           'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=bookworm,label=Debian-Security";\n')


def patching_table(**override: Answer | str) -> dict[str, Answer | str]:
    table: dict[str, Answer | str] = {"dpkg-query -W -f '${Status}' unattended-upgrades": "install ok installed",
                                      "apt-config dump": UU_DUMP, "systemctl is-active apt-daily-upgrade.timer": "active\n"}
    return {**table, **override}


@pytest.mark.parametrize("override, problem", [
    ({}, None),
    ({"dpkg-query -W -f '${Status}' unattended-upgrades": Answer(1, "")}, "unattended-upgrades is not installed"),
    ({"apt-config dump": UU_DUMP.replace('Unattended-Upgrade "1"', 'Unattended-Upgrade "0"')},
     'APT::Periodic::Unattended-Upgrade not "1"'),
    ({"apt-config dump": UU_DUMP.replace("label=Debian-Security", "label=Debian")}, "no security origin"),
    ({"systemctl is-active apt-daily-upgrade.timer": Answer(3, "inactive\n")}, "apt-daily-upgrade.timer not active"),
])
def test_unattended_upgrades(plan, override, problem):
    finding = checks.unattended_upgrades_enabled(context(plan, patching_table(**override)))
    if problem is None:
        assert finding.status == "pass", finding
    else:
        assert finding.status == "fail" and problem in finding.found, finding


def test_security_repository(plan):
    policy = " 500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n"
    assert checks.security_repository_configured(context(plan, {"apt-cache policy": policy})).status == "pass"
    assert checks.security_repository_configured(context(plan, {"apt-cache policy": policy.replace("-security", "")})).status == "fail"


JOURNAL_FIND = "find /var/log/journal -maxdepth 2 -name 'system*.journal'"


@pytest.mark.parametrize("storage, files, status", [
    ("", "/var/log/journal/ab/system.journal\n", "pass"),               # Debian: auto, directory present
    ("Storage=persistent\n", "/var/log/journal/ab/system.journal\n", "pass"),
    ("Storage=volatile\n", "/var/log/journal/ab/system.journal\n", "fail"),
    ("Storage=persistent\n", "", "fail"),                              # configured, but nothing written there
])
def test_journald_persistent(plan, storage, files, status):
    table = {"systemd-analyze cat-config systemd/journald.conf": "[Journal]\n" + storage, JOURNAL_FIND: files}
    assert checks.journald_persistent(context(plan, table)).status == status


def secrets_table(plan, exposed: str = "", mode: str = "700") -> dict[str, Answer | str]:
    table: dict[str, Answer | str] = {
        f"test -d {layout.COUNSELKIT_ETC}": "", f"test -d {layout.KEYCLOAK_HOME}": Answer(1, ""),
        f"find {layout.COUNSELKIT_ETC} -type f -perm /o+rw -printf '%p %u:%g %m\\n'": exposed}
    for tenant in plan.hosts[0].tenants:
        table[f"stat -c '%U %a' {tenant.backup_config_dir}"] = f"root {mode}\n"
    return table


def test_secret_files_protected(plan):
    ok = checks.secret_files_protected(context(plan, secrets_table(plan, "/etc/counselkit/tls/a.crt root:root 644\n")))
    assert ok.status == "pass", ok  # a certificate may be world-readable
    leak = checks.secret_files_protected(context(plan, secrets_table(plan, "/etc/counselkit/synapse/a/signing.key root:root 644\n")))
    assert leak.status == "fail" and "signing.key" in leak.found
    open_dir = checks.secret_files_protected(context(plan, secrets_table(plan, mode="755")))
    assert open_dir.status == "fail" and plan.hosts[0].tenants[0].backup_config_dir in open_dir.found
    assert "nothing was deployed" in checks.secret_files_protected(context(plan, {})).found


# --- backups ----------------------------------------------------------------------------------------------------

def timers_table(plan, **service: str) -> dict[str, Answer | str]:
    table: dict[str, Answer | str] = {}
    for tenant in plan.hosts[0].tenants:
        names = layout.backup_job_names(tenant.slug)
        table[f"systemctl is-active {names['timer']}"] = "active\n"
        table[f"systemctl show {names['service']} --property=Result --property=ExecMainExitTimestamp "
              f"--property=ExecMainStatus"] = ("Result=success\nExecMainExitTimestamp=Wed 2026-12-02 03:00:00 UTC\n"
                                              "ExecMainStatus=0\n")
    first = layout.backup_job_names(plan.hosts[0].tenants[0].slug)
    if "timer" in service:
        table[f"systemctl is-active {first['timer']}"] = Answer(3, service["timer"])
    if "show" in service:
        key = next(k for k in table if k.startswith(f"systemctl show {first['service']}"))
        table[key] = service["show"]
    return table


@pytest.mark.parametrize("service, problem", [
    ({}, None),
    ({"timer": "inactive\n"}, "timer inactive"),
    ({"show": "Result=success\nExecMainExitTimestamp=\nExecMainStatus=0\n"}, "never ran"),
    ({"show": "Result=exit-code\nExecMainExitTimestamp=Wed 2026-12-02 03:00:00 UTC\nExecMainStatus=3\n"}, "Result=exit-code status 3"),
])
def test_backup_timers_active(plan, service, problem):
    finding = checks.backup_timers_active(context(plan, timers_table(plan, **service)))
    if problem is None:
        assert finding.status == "pass", finding
    else:
        assert finding.status == "fail" and problem in finding.found, finding


class Secrets:
    def get(self, ref: str) -> str:
        return f"value-of-{ref}"


SNAPSHOT = "4f1d2a7be0c94c1e8a5b6d3f2e1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"


def host_backup_table(plan, repository: str | None = None, status: Answer | str | None = None) -> dict[str, Answer | str]:
    table: dict[str, Answer | str] = {}
    for tenant in plan.hosts[0].tenants:
        names = layout.backup_job_names(tenant.slug)
        table[f"grep -h -E '^RESTIC_REPOSITORY=' {names['env_file']}"] = \
            f"RESTIC_REPOSITORY={shlex.quote(repository or tenant.backup_repository)}\n"
        table[f"cat {names['status_file']}"] = status if status is not None else json.dumps(
            {"job": tenant.slug, "exit_code": 0, "ok": True, "snapshot_id": SNAPSHOT, "finished": "2026-12-02T03:00:01Z"})
    return table


class FakeRestic:
    """The repositories as restic would answer from the auditing machine: snapshot SNAPSHOT made by `hostname`."""

    def __init__(self, hostname: str, wrong_password_opens: bool = False):
        self.hostname, self.wrong_password_opens, self.calls = hostname, wrong_password_opens, []

    def __call__(self, env, *args):
        import subprocess

        self.calls.append((env.get("RESTIC_REPOSITORY"), env.get("RESTIC_PASSWORD"), args))
        ok = env.get("RESTIC_PASSWORD", "").startswith("value-of-")
        if args[:2] == ("cat", "config"):
            return subprocess.CompletedProcess(args, 0 if ok or self.wrong_password_opens else 1, b"{}", b"wrong password")
        if args[:2] == ("snapshots", "--json"):
            listed = [{"id": SNAPSHOT, "hostname": self.hostname}] if args[2] == SNAPSHOT else []
            return subprocess.CompletedProcess(args, 0 if listed else 1, json.dumps(listed).encode(),
                                               b"" if listed else b"no matching ID found")
        if args[0] == "dump":
            return subprocess.CompletedProcess(args, 0, b"ed25519 a_key secret", b"")
        raise AssertionError(args)


def backup_context(plan, monkeypatch, table, restic: FakeRestic) -> CheckContext:
    from counselkit.audit.checks import backups

    monkeypatch.setattr(backups, "_restic", restic)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    ctx = context(plan, table)
    ctx.secrets = Secrets()
    return ctx


def test_backup_restorable_from_the_hosts_own_last_snapshot(plan, monkeypatch):
    restic = FakeRestic(plan.hosts[0].name)
    finding = checks.backup_repository_restorable(backup_context(plan, monkeypatch, host_backup_table(plan), restic))
    assert finding.status == "pass", finding
    tenant = plan.hosts[0].tenants[0]
    assert (tenant.backup_repository, f"value-of-{tenant.secrets['restic_password']}",
            ("dump", SNAPSHOT, tenant.signing_key_path)) in restic.calls
    assert "signing key read back" in finding.found and "ed25519" not in finding.found  # the key is never shown


@pytest.mark.parametrize("case, problem", [
    ("bare host", "no backup job configured on this host"),
    ("never ran", "the job never recorded a run on this host"),
    ("failed run", "the host's last run made no snapshot"),
    ("other repository", "the host's job writes to s3:http://elsewhere/bucket/x"),
    ("another host's snapshot", "was made by ['node9']"),
    ("snapshot not in the repository", "not in the repository"),
    ("wrong password opens", "repository opens with a wrong password"),
])
def test_backup_restorable_fails_without_this_hosts_evidence(plan, monkeypatch, case, problem):
    table, restic = host_backup_table(plan), FakeRestic(plan.hosts[0].name)
    if case == "bare host":
        table = {k: Answer(2, "", "No such file or directory") for k in table}
    elif case == "never ran":
        table = {k: (Answer(1, "", "No such file") if k.startswith("cat ") else v) for k, v in table.items()}
    elif case == "failed run":
        table = host_backup_table(plan, status=json.dumps({"exit_code": 3, "ok": False, "snapshot_id": None}))
    elif case == "other repository":
        table = host_backup_table(plan, repository="s3:http://elsewhere/bucket/x")
    elif case == "another host's snapshot":
        restic = FakeRestic("node9")  # the repository holds the tenant's backups, made by another host
    elif case == "snapshot not in the repository":
        other = json.dumps({"ok": True, "snapshot_id": "0" * 64})
        table = {k: (other if k.startswith("cat ") else v) for k, v in table.items()}
    elif case == "wrong password opens":
        restic = FakeRestic(plan.hosts[0].name, wrong_password_opens=True)
    finding = checks.backup_repository_restorable(backup_context(plan, monkeypatch, table, restic))
    assert finding.status == "fail" and problem in finding.found, finding
    if case == "bare host":
        assert restic.calls == []  # no host evidence: the repository is not even asked


def test_backup_restorable_needs_secrets_and_restic(plan, monkeypatch):
    assert checks.backup_repository_restorable(context(plan, host_backup_table(plan))).status == "error"
    ctx = backup_context(plan, monkeypatch, host_backup_table(plan), FakeRestic("x"))
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert checks.backup_repository_restorable(ctx).status == "error"


# --- PostgreSQL: listeners and authentication ---------------------------------------------------------------------

class SqlHost(TableHost):
    """Answers read-only psql calls by a marker in their SQL, everything else from the table."""

    def __init__(self, table: dict[str, Answer | str], sql: dict[str, Answer | str]):
        super().__init__(table)
        self.sql = {k: (v if isinstance(v, Answer) else Answer(0, v)) for k, v in sql.items()}

    def run(self, command: str) -> Answer:
        if command.startswith("runuser -u postgres -- psql"):
            self.ran.append(command)
            return next((answer for marker, answer in self.sql.items() if marker in command),
                        Answer(2, "", "psql: unexpected query"))
        return super().run(command)


def sql_context(plan, table: dict[str, Answer | str], sql: dict[str, Answer | str]) -> CheckContext:
    host_plan = plan.hosts[0]
    host = SqlHost({"systemd-detect-virt --container": Answer(1, "none"), **table}, sql)
    return CheckContext(host, Target(host_plan.name, "table://", "127.0.0.1", host_plan), plan, Transcript())


PG_SS = f"LISTEN 0 244 127.0.0.1:{layout.POSTGRES_PORT} 0.0.0.0:*\nLISTEN 0 244 [::1]:{layout.POSTGRES_PORT} [::]:*\n"


@pytest.mark.parametrize("sockets, listen, problem", [
    (PG_SS, "localhost", None),
    (PG_SS + f"LISTEN 0 244 0.0.0.0:{layout.POSTGRES_PORT} 0.0.0.0:*\n", "localhost", f"listening on 0.0.0.0:{layout.POSTGRES_PORT}"),
    (PG_SS, "*", "listen_addresses = *"),
])
def test_postgres_local_only(plan, sockets, listen, problem):
    ctx = sql_context(plan, {"ss -tlnpH": sockets, "ss -ulnpH": ""}, {"SHOW listen_addresses": listen + "\n"})
    finding = checks.postgres_local_only(ctx)
    if problem is None:
        assert finding.status == "pass", finding
    else:
        assert finding.status == "fail" and problem in finding.found, finding
    down = sql_context(plan, {"ss -tlnpH": "", "ss -ulnpH": ""}, {"SHOW listen_addresses": Answer(2, "", "no server")})
    assert "not reachable" in checks.postgres_local_only(down).found


HBA_OK = "1|local|all|postgres|||peer\n2|local|all|all|||peer\n3|host|all|all|127.0.0.1|255.255.255.255|scram-sha-256\n" \
         "4|host|all|all|::1|ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff|scram-sha-256\n5|host|all|all|0.0.0.0|0.0.0.0|reject\n"


@pytest.mark.parametrize("encryption, extra, problem", [
    ("scram-sha-256", "", None),
    ("md5", "", "password_encryption = md5"),
    ("scram-sha-256", "6|local|all|all|||trust\n", "pg_hba line 6: local all all  trust"),
    ("scram-sha-256", "6|host|all|all|10.0.0.0|255.0.0.0|scram-sha-256\n", "pg_hba line 6: host from 10.0.0.0/255.0.0.0"),
    ("scram-sha-256", "6|host|all|all|127.0.0.1|255.255.255.255|md5\n", "pg_hba line 6: host all all 127.0.0.1 md5"),
])
def test_postgres_scram_only(plan, encryption, extra, problem):
    ctx = sql_context(plan, {}, {"SHOW password_encryption": encryption + "\n", "pg_hba_file_rules": HBA_OK + extra})
    finding = checks.postgres_scram_only(ctx)
    if problem is None:
        assert finding.status == "pass", finding
    else:
        assert finding.status == "fail" and problem in finding.found, finding
    unreadable = sql_context(plan, {}, {"SHOW password_encryption": "scram-sha-256\n",
                                        "pg_hba_file_rules": Answer(1, "", "permission denied")})
    assert checks.postgres_scram_only(unreadable).status == "error"


# --- Synapse: units, exposure, listeners, registration, federation ------------------------------------------------

def synapse_table(plan, owner: str | None = None, **override: str) -> dict[str, Answer | str]:
    """`systemctl show` of every tenant's unit (each its own MainPID and owner); `override` and `owner` change the
    first tenant's."""
    props = ["ActiveState", "User", "MainPID", *checks.SANDBOX]
    table: dict[str, Answer | str] = {}
    for i, tenant in enumerate(plan.hosts[0].tenants):
        values = {"ActiveState": "active", "User": tenant.unix_user, "MainPID": str(4242 + i), "NoNewPrivileges": "yes",
                  "ProtectSystem": "strict", "PrivateTmp": "yes", **(override if i == 0 else {})}
        table[shlex.join(["systemctl", "show", tenant.unit, *(f"--property={p}" for p in props)])] = \
            "".join(f"{k}={v}\n" for k, v in values.items())
        table[f"ps -o user:64= -p {4242 + i}"] = ((owner if i == 0 and owner else tenant.unix_user) + "\n")
    return table


def test_synapse_units_sandboxed(plan):
    first = plan.hosts[0].tenants[0]
    finding = checks.synapse_units_sandboxed(context(plan, synapse_table(plan)))
    assert finding.status == "pass", finding
    for override, problem in [({"ActiveState": "failed"}, f"{first.unit} failed"),
                              ({"User": ""}, f"User=(root) (expected {first.unix_user})"),
                              ({"ProtectSystem": "no"}, "ProtectSystem=no"),
                              ({"NoNewPrivileges": "no"}, "NoNewPrivileges=no"),
                              ({"PrivateTmp": "no"}, "PrivateTmp=no")]:
        bad = checks.synapse_units_sandboxed(context(plan, synapse_table(plan, **override)))
        assert bad.status == "fail" and f"{first.domain}: {problem}" in bad.found, (override, bad.found)
    other = checks.synapse_units_sandboxed(context(plan, synapse_table(plan, owner="root")))
    assert other.status == "fail" and f"{first.domain}: process 4242 runs as root" in other.found


def exposure_table(plan, scores: dict[str, float], loaded: set[str] | None = None) -> dict[str, Answer | str]:
    ctx = context(plan, {})
    units = checks.counselkit_units(ctx)
    loaded = set(units) if loaded is None else loaded
    show = "\n\n".join(f"Id={u}\nLoadState={'loaded' if u in loaded else 'not-found'}" for u in units)
    analysed = [u for u in units if u in loaded]
    text = "".join(f"→ Overall exposure level for {u}: {scores.get(u, 1.2):.1f} OK 🙂\n" for u in analysed)
    return {shlex.join(["systemctl", "show", "--property=Id", "--property=LoadState", *units]): show,
            shlex.join(["systemd-analyze", "security", "--no-pager", *analysed]): text}


def test_units_exposure(plan):
    units = checks.counselkit_units(context(plan, {}))
    first = plan.hosts[0].tenants[0]
    assert first.unit in units and layout.AIDE_INIT_UNIT in units
    assert checks.units_exposure_ok(context(plan, exposure_table(plan, {}))).status == "pass"
    weak = checks.units_exposure_ok(context(plan, exposure_table(plan, {first.unit: 6.2})))
    assert weak.status == "fail" and f"{first.unit}: exposure 6.2 (> 2.0)" in weak.found
    partly = checks.units_exposure_ok(context(plan, exposure_table(plan, {}, loaded=set(units) - {layout.AIDE_INIT_UNIT})))
    assert partly.status == "pass" and f"{layout.AIDE_INIT_UNIT}: not installed" in partly.found
    none = checks.units_exposure_ok(context(plan, exposure_table(plan, {}, loaded=set())))
    assert none.status == "fail" and "none of the planned units is installed" in none.found
    assert checks.exposure_problems({}, [first.unit]) == [f"{first.unit}: no score in the output of systemd-analyze security"]


def test_synapse_loopback_only(plan):
    tenants = plan.hosts[0].tenants
    ss = "".join(f"LISTEN 0 5 127.0.0.1:{t.synapse_port} 0.0.0.0:*\n" for t in tenants)
    assert checks.synapse_loopback_only(context(plan, {"ss -tlnpH": ss, "ss -ulnpH": ""})).status == "pass"
    public = ss + f"LISTEN 0 5 0.0.0.0:{tenants[0].synapse_port} 0.0.0.0:*\n"
    assert f"listens on 0.0.0.0:{tenants[0].synapse_port}" in \
        checks.synapse_loopback_only(context(plan, {"ss -tlnpH": public, "ss -ulnpH": ""})).found
    missing = "".join(line + "\n" for line in ss.splitlines()[1:])
    assert f"nothing listens on port {tenants[0].synapse_port}" in \
        checks.synapse_loopback_only(context(plan, {"ss -tlnpH": missing, "ss -ulnpH": ""})).found


def answers(monkeypatch, by_path: dict[str, Any]) -> None:
    from counselkit.audit import netprobe

    def get(address, port, host_header, path="/", **_):
        for prefix, answer in by_path.items():
            if path.startswith(prefix):
                return answer
        return netprobe.HttpAnswer(False, error="ConnectionRefusedError")

    monkeypatch.setattr(netprobe, "get", get)


def test_synapse_registration_closed(plan, monkeypatch):
    from counselkit.audit.netprobe import HttpAnswer

    path = "/_matrix/client/v3/register/available"
    answers(monkeypatch, {path: HttpAnswer(True, 403, body=b'{"errcode":"M_FORBIDDEN"}')})
    assert checks.synapse_registration_closed(context(plan, {})).status == "pass"
    answers(monkeypatch, {path: HttpAnswer(True, 200, body=b'{"available":true}')})
    assert "HTTP 200" in checks.synapse_registration_closed(context(plan, {})).found
    answers(monkeypatch, {})
    assert "no answer" in checks.synapse_registration_closed(context(plan, {})).found


def test_synapse_federation_off(plan, monkeypatch):
    from counselkit.audit.netprobe import HttpAnswer

    closed = {"/_matrix/federation": HttpAnswer(True, 404), "/_matrix/key": HttpAnswer(True, 404)}
    quiet = {"ss -tlnpH": SS_TCP, "ss -ulnpH": ""}
    answers(monkeypatch, closed)
    assert checks.synapse_federation_off(context(plan, quiet)).status == "pass"
    answers(monkeypatch, {**closed, "/_matrix/key": HttpAnswer(True, 200)})
    assert "/_matrix/key/v2/server answers 200" in checks.synapse_federation_off(context(plan, quiet)).found
    answers(monkeypatch, closed)
    port = {**quiet, "ss -tlnpH": SS_TCP + "LISTEN 0 5 0.0.0.0:8448 0.0.0.0:*\n"}
    assert "listening on 0.0.0.0:8448" in checks.synapse_federation_off(context(plan, port)).found


# --- tenant isolation ---------------------------------------------------------------------------------------------

def users_table(plan, **entries: str) -> dict[str, Answer | str]:
    table: dict[str, Answer | str] = {}
    for i, tenant in enumerate(plan.hosts[0].tenants):
        entry = entries.get(tenant.unix_user, f"{tenant.unix_user}:x:{990 - i}:{990 - i}::/nonexistent:/usr/sbin/nologin")
        table[f"getent passwd {tenant.unix_user}"] = Answer(2, "") if entry == "missing" else entry + "\n"
    return table


def test_tenant_users_distinct(plan):
    first, second = plan.hosts[0].tenants[0], plan.hosts[0].tenants[1]
    assert checks.tenant_users_distinct(context(plan, users_table(plan))).status == "pass"
    shell = users_table(plan, **{first.unix_user: f"{first.unix_user}:x:990:990::/home/x:/bin/bash"})
    assert f"{first.unix_user}: login shell /bin/bash" in checks.tenant_users_distinct(context(plan, shell)).found
    shared = users_table(plan, **{second.unix_user: f"{second.unix_user}:x:990:990::/nonexistent:/usr/sbin/nologin"})
    assert f"UID 990 shared by {first.unix_user}, {second.unix_user}" in checks.tenant_users_distinct(context(plan, shared)).found
    missing = users_table(plan, **{first.unix_user: "missing"})
    assert f"{first.unix_user}: no such user" in checks.tenant_users_distinct(context(plan, missing)).found


def files_table(plan, change: dict[str, str] | None = None) -> dict[str, Answer | str]:
    table: dict[str, Answer | str] = {}
    for tenant in plan.hosts[0].tenants:
        rows = {tenant.config_dir: f"root {tenant.unix_user} 750", tenant.data_dir: f"{tenant.unix_user} {tenant.unix_user} 700",
                tenant.media_dir: f"{tenant.unix_user} {tenant.unix_user} 700",
                tenant.signing_key_path: f"{tenant.unix_user} {tenant.unix_user} 600"}
        rows.update({k: v for k, v in (change or {}).items() if k in rows})
        paths = [tenant.config_dir, tenant.data_dir, tenant.media_dir, tenant.signing_key_path]
        table[shlex.join(["stat", "-c", "%n %U %G %a", *paths])] = "".join(f"{p} {rows[p]}\n" for p in paths if rows[p])
    return table


def test_tenant_files_private(plan):
    tenant, other = plan.hosts[0].tenants[0], plan.hosts[0].tenants[1]
    assert checks.tenant_files_private(context(plan, files_table(plan))).status == "pass"
    for change in ({tenant.data_dir: f"{tenant.unix_user} {tenant.unix_user} 705"},            # others may read
                   {tenant.media_dir: f"{other.unix_user} {other.unix_user} 700"},            # another tenant's
                   {tenant.signing_key_path: f"{tenant.unix_user} {tenant.unix_user} 640"},   # key readable by group
                   {tenant.signing_key_path: "root root 600"},                               # key not the tenant's
                   {tenant.config_dir: ""}):                                                   # missing
        finding = checks.tenant_files_private(context(plan, files_table(plan, change)))
        path = next(iter(change))
        assert finding.status == "fail" and f"{tenant.domain}: {path}" in finding.found, (change, finding.found)


def test_tenant_db_isolated(plan):
    tenants = plan.hosts[0].tenants

    def rows(extra: tuple[str, str, str] | None = None, drop_own: bool = False) -> str:
        out = []
        for t in tenants:
            for d in tenants:
                allowed = "t" if t is d and not (drop_own and t is tenants[0]) else "f"
                out.append(f"{t.db_user}|{d.db_name}|{allowed}")
        if extra:
            out.append("|".join(extra))
        return "\n".join(out) + "\n"

    def ctx(text: str | Answer) -> CheckContext:
        return sql_context(plan, {}, {"has_database_privilege": text})

    assert checks.tenant_db_isolated(ctx(rows())).status == "pass"
    other = checks.tenant_db_isolated(ctx(rows((tenants[0].db_user, "postgres", "t"))))
    assert other.status == "fail" and f"{tenants[0].db_user} may connect to postgres" in other.found
    own = checks.tenant_db_isolated(ctx(rows(drop_own=True)))
    assert f"{tenants[0].db_user} may not connect to its own {tenants[0].db_name}" in own.found
    assert "no tenant roles found" in checks.tenant_db_isolated(ctx("")).found
    assert "not reachable" in checks.tenant_db_isolated(ctx(Answer(2, "", "no server"))).found


def test_tenant_vhost_routing(plan, monkeypatch):
    from counselkit.audit.netprobe import HttpAnswer

    tenant = plan.hosts[0].tenants[0]

    def well_known(domain: str) -> HttpAnswer:
        return HttpAnswer(True, 200, body=json.dumps({"m.homeserver": {"base_url": f"https://{domain}"}}).encode())

    from counselkit.audit import netprobe

    def routed(base_for, versions_status=200):
        def get(address, port, host_header, path="/", **_):
            if path == "/.well-known/matrix/client":
                return well_known(base_for(host_header))
            return HttpAnswer(True, versions_status)
        monkeypatch.setattr(netprobe, "get", get)

    routed(lambda domain: domain)
    assert checks.tenant_vhost_routing(context(plan, {})).status == "pass"
    routed(lambda domain: plan.hosts[0].tenants[1].domain)  # every name served the second tenant's homeserver
    crossed = checks.tenant_vhost_routing(context(plan, {}))
    assert crossed.status == "fail" and f"{tenant.domain}: well-known base_url https://{plan.hosts[0].tenants[1].domain}" in crossed.found
    routed(lambda domain: domain, versions_status=502)
    assert f"{tenant.domain}: /_matrix/client/versions → 502" in checks.tenant_vhost_routing(context(plan, {})).found


# --- TLS and HTTP of the tenant vhosts ------------------------------------------------------------------------------

def certificate(domain: str, days: tuple[int, int] = (-1, 90), key_kind: str = "ec256") -> bytes:
    """A DER certificate for `domain` (self-signed: the chain is netprobe's business, the check reads the leaf)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1()) if key_kind == "ec256" else rsa.generate_private_key(65537, 1024)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def handshakes(monkeypatch, accept: dict[str | None, str], weak_ok: bool = False, cert=None) -> None:
    """TLS versions the server accepts (version -> cipher); the certificate it presents per SNI name."""
    from counselkit.audit import netprobe

    def handshake(address, port, server_name, version=None, ciphers=None, ca_file=None):
        if ciphers == netprobe.WEAK_TLS12_CIPHERS and not weak_ok:
            return netprobe.Handshake(False, error="no shared cipher")
        if version in accept:
            der = cert(server_name) if cert else certificate(server_name)
            return netprobe.Handshake(True, version or "TLSv1.3", accept[version], certificate=der)
        return netprobe.Handshake(False, error="protocol version")

    monkeypatch.setattr(netprobe, "handshake", handshake)


MODERN = {"TLSv1.2": "ECDHE-ECDSA-AES256-GCM-SHA384", None: "TLS_AES_256_GCM_SHA384"}


@pytest.mark.parametrize("accept, weak_ok, problem", [
    (MODERN, False, None),
    ({**MODERN, "TLSv1": "ECDHE-RSA-AES128-SHA"}, False, "accepts TLSv1 "),
    ({**MODERN, "TLSv1.1": "ECDHE-RSA-AES128-SHA"}, False, "accepts TLSv1.1"),
    ({**MODERN, "TLSv1.2": "ECDHE-RSA-AES128-SHA256"}, False, "TLS 1.2 negotiates non-AEAD"),
    (MODERN, True, "accepts weak TLS 1.2 suite"),
    ({None: "TLS_AES_256_GCM_SHA384"}, False, "TLS 1.2 handshake failed"),
])
def test_tls_protocols(plan, monkeypatch, accept, weak_ok, problem):
    handshakes(monkeypatch, accept, weak_ok)
    finding = checks.tls_protocols(context(plan, {}))
    if problem is None:
        assert finding.status == "pass", finding
    else:
        assert finding.status == "fail" and problem in finding.found, finding


@pytest.mark.parametrize("cert, problem", [
    (lambda name: certificate(name), None),
    (lambda name: certificate(name, days=(-100, -1)), "not valid now"),
    (lambda name: certificate(name, days=(1, 90)), "not valid now"),
    (lambda name: certificate("other.example"), "lacks"),
    (lambda name: certificate(name, key_kind="rsa1024"), "RSAPublicKey 1024 bit"),
])
def test_tls_certificate(plan, monkeypatch, cert, problem):
    handshakes(monkeypatch, MODERN, cert=cert)
    finding = checks.tls_certificate(context(plan, {}))
    if problem is None:
        assert finding.status == "pass", finding
        assert "trust chain not verified (no CA file given)" in finding.found  # said, not hidden
    else:
        assert finding.status == "fail" and problem in finding.found, finding
    handshakes(monkeypatch, {})
    assert "no certificate" in checks.tls_certificate(context(plan, {})).found


GOOD_HEADERS = {"strict-transport-security": "max-age=31536000; includeSubDomains", "x-content-type-options": "nosniff",
                "x-frame-options": "DENY", "referrer-policy": "no-referrer", "server": "nginx"}


@pytest.mark.parametrize("change, problem", [
    ({}, None),
    ({"strict-transport-security": "max-age=3600"}, "HSTS max-age=3600"),
    ({"strict-transport-security": None}, "HSTS missing"),
    ({"x-content-type-options": None}, "X-Content-Type-Options missing"),
    ({"x-frame-options": None}, "no X-Frame-Options / frame-ancestors"),
    ({"x-frame-options": None, "content-security-policy": "frame-ancestors 'none'"}, None),
    ({"referrer-policy": None}, "Referrer-Policy missing"),
])
def test_http_security_headers(plan, monkeypatch, change, problem):
    from counselkit.audit.netprobe import HttpAnswer

    headers = {k: v for k, v in {**GOOD_HEADERS, **change}.items() if v is not None}
    answers(monkeypatch, {"/": HttpAnswer(True, 200, headers=headers)})
    finding = checks.http_security_headers(context(plan, {}))
    if problem is None:
        assert finding.status == "pass", finding
    else:
        assert finding.status == "fail" and problem in finding.found, finding


def test_server_version_hidden(plan, monkeypatch):
    from counselkit.audit.netprobe import HttpAnswer

    answers(monkeypatch, {"/": HttpAnswer(True, 404, headers={"server": "nginx"}, body=b"<h1>404</h1>")})
    assert checks.server_version_hidden(context(plan, {})).status == "pass"
    answers(monkeypatch, {"/": HttpAnswer(True, 404, headers={"server": "nginx/1.22.1"}, body=b"")})
    assert "Server header nginx/1.22.1" in checks.server_version_hidden(context(plan, {})).found
    answers(monkeypatch, {"/": HttpAnswer(True, 404, headers={"server": "nginx"}, body=b"<hr><center>nginx/1.22.1</center>")})
    assert "error page shows the nginx version" in checks.server_version_hidden(context(plan, {})).found


def test_http_redirects_to_https(plan, monkeypatch):
    from counselkit.audit import netprobe

    def redirect(status, location_for):
        def get(address, port, host_header, path="/", tls=True, **_):
            assert port == netprobe.HTTP_PORT and not tls
            return netprobe.HttpAnswer(True, status, headers={"location": location_for(host_header)})
        monkeypatch.setattr(netprobe, "get", get)

    redirect(301, lambda domain: f"https://{domain}/")
    assert checks.http_redirects_to_https(context(plan, {})).status == "pass"
    redirect(302, lambda domain: f"https://{domain}/")
    assert "HTTP 302" in checks.http_redirects_to_https(context(plan, {})).found
    redirect(301, lambda domain: "https://elsewhere.example/")
    assert "Location https://elsewhere.example/" in checks.http_redirects_to_https(context(plan, {})).found


def test_default_vhost_catch_all(plan, monkeypatch):
    from counselkit.audit import netprobe

    def serve(https, http):
        def get(address, port, host_header, path="/", tls=True, **_):
            assert host_header == checks.UNKNOWN_NAME
            return https if tls else http
        monkeypatch.setattr(netprobe, "get", get)

    closed = netprobe.HttpAnswer(False, error="SSLError: unrecognized name")
    serve(closed, netprobe.HttpAnswer(False, error="RemoteDisconnected"))
    assert checks.default_vhost_catch_all(context(plan, {})).status == "pass"
    serve(netprobe.HttpAnswer(True, 200), netprobe.HttpAnswer(False, error="RemoteDisconnected"))
    assert "https for an unknown name answers 200" in checks.default_vhost_catch_all(context(plan, {})).found
    tenant = plan.hosts[0].tenants[0]
    serve(closed, netprobe.HttpAnswer(True, 301, headers={"location": f"https://{tenant.domain}/"}))
    assert "http for an unknown name answers 301" in checks.default_vhost_catch_all(context(plan, {})).found
    refused = netprobe.HttpAnswer(False, error="ConnectionRefusedError: [Errno 111] Connection refused")
    serve(refused, refused)
    assert "nothing listens on 80/443" in checks.default_vhost_catch_all(context(plan, {})).found
