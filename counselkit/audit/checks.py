"""The checks: each proves one observable fact about a host, read-only, from its effective state.

A check looks at what the system *does* (``sshd -T``, ``nft -j list ruleset``, ``ss``, ``systemctl show``,
PostgreSQL's catalogue, a TLS handshake) rather than at a file the deploy happened to write, so it keeps
proving the outcome when the implementation changes. Names, ports and paths come from the plan/layout.
Every check returns a :class:`Finding`; one that cannot be evaluated says so (``na`` with the reason when
the control cannot apply, e.g. a kernel setting inside a container; ``error`` when it could not run).
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from counselkit import layout

from . import netprobe
from .context import CheckContext, Finding, failed, is_loopback, passed, verdict

CheckFn = Callable[[CheckContext], Finding]


@dataclass(frozen=True)
class Check:
    name: str
    fn: CheckFn
    statement: str  # one line: what the check looks at


CHECKS: dict[str, Check] = {}


def check(name: str, statement: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if name in CHECKS:
            raise ValueError(f"check {name} registered twice")
        CHECKS[name] = Check(name, fn, statement)
        return fn

    return register


def _na(expected: str, found: str, reason: str) -> Finding:
    return Finding("na", expected, found, reason)


def _no_tenants(expected: str) -> Finding:
    return _na(expected, "no tenant is placed on this host", "not applicable: no tenants on this host")


# --- SSH ------------------------------------------------------------------------------------------------

@check("ssh_password_auth_disabled", "sshd -T: password, keyboard-interactive and empty passwords off; public keys on")
def ssh_password_auth_disabled(ctx: CheckContext) -> Finding:
    expected = "passwordauthentication no, kbdinteractiveauthentication no, permitemptypasswords no, pubkeyauthentication yes"
    config = ctx.sshd
    if config is None:
        return failed(expected, "`sshd -T` failed: no OpenSSH server configuration could be read")
    wanted = {"passwordauthentication": "no", "kbdinteractiveauthentication": "no",
              "permitemptypasswords": "no", "pubkeyauthentication": "yes"}
    found = {k: config.get(k, "(unset)") for k in wanted}
    problems = [f"{k} {v} (expected {wanted[k]})" for k, v in found.items() if v != wanted[k]]
    return verdict(problems, expected, ", ".join(f"{k} {v}" for k, v in found.items()))


@check("ssh_root_login_key_only", "sshd -T: root may not log in with a password")
def ssh_root_login_key_only(ctx: CheckContext) -> Finding:
    expected = "permitrootlogin no or prohibit-password"
    config = ctx.sshd
    if config is None:
        return failed(expected, "`sshd -T` failed")
    value = config.get("permitrootlogin", "(unset)")
    ok = value in {"no", "prohibit-password", "without-password", "forced-commands-only"}
    return (passed if ok else failed)(expected, f"permitrootlogin {value}")


MODERN_KEX = {"sntrup761x25519-sha512@openssh.com", "sntrup761x25519-sha512", "mlkem768x25519-sha256",
              "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
              "ecdh-sha2-nistp521", "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
              "diffie-hellman-group-exchange-sha256"}
MODERN_CIPHERS = {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
                  "aes256-ctr", "aes192-ctr", "aes128-ctr"}
MODERN_MACS = {"hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"}
MODERN_HOSTKEYS = {"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com",
                   "sk-ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                   "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
                   "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                   "ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
                   "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com"}


@check("ssh_modern_algorithms", "sshd -T: only modern key exchange, cipher, MAC and host key algorithms offered")
def ssh_modern_algorithms(ctx: CheckContext) -> Finding:
    expected = ("kex ⊆ {curve25519, sntrup761x25519, ecdh-nistp, DH group16/18/gex-sha256}; ciphers ⊆ {chacha20-poly1305, "
                "aes-gcm, aes-ctr}; macs ⊆ {hmac-sha2-*-etm, umac-128-etm}; host keys ⊆ {ed25519, ecdsa, rsa-sha2}")
    config = ctx.sshd
    if config is None:
        return failed(expected, "`sshd -T` failed")
    problems, shown = [], []
    for key, allowed in (("kexalgorithms", MODERN_KEX), ("ciphers", MODERN_CIPHERS), ("macs", MODERN_MACS),
                         ("hostkeyalgorithms", MODERN_HOSTKEYS)):
        offered = [a for a in config.get(key, "").split(",") if a]
        weak = [a for a in offered if a not in allowed]
        shown.append(f"{key} {','.join(offered)}")
        if weak:
            problems.append(f"{key}: not allowed {', '.join(weak)}")
        if not offered:
            problems.append(f"{key}: nothing reported")
    return verdict(problems, expected, "\n".join(shown))


# --- accounts and sudo ---------------------------------------------------------------------------------

@check("accounts_admins_with_keys",
       f"every planned admin exists, is in group {layout.ADMIN_GROUP} and has exactly their planned key")
def accounts_admins_with_keys(ctx: CheckContext) -> Finding:
    admins = ctx.plan.platform.admins
    expected = f"accounts {', '.join(a.name for a in admins)} with their planned SSH key, members of {layout.ADMIN_GROUP}"
    keys_file = (ctx.sshd or {}).get("authorizedkeysfile", ".ssh/authorized_keys").split()[0]
    problems, found = [], []
    for admin in admins:
        entry = ctx.out("getent", "passwd", admin.name).strip()
        if not entry:
            problems.append(f"{admin.name}: no such account")
            continue
        home = entry.split(":")[5]
        path = keys_file.replace("%h", home).replace("%u", admin.name).replace("%%", "%")
        if not path.startswith("/"):
            path = f"{home}/{path}"
        blob = admin.ssh_key.split()[1]
        keys = ctx.run("cat", path)
        if keys.rc != 0:
            problems.append(f"{admin.name}: {path} missing")
        else:
            blobs = [line.split()[1] for line in keys.stdout.splitlines()
                     if len(line.split()) > 1 and not line.startswith("#")]
            if blob not in blobs:
                problems.append(f"{admin.name}: planned key not in {path}")
            extra = [b for b in blobs if b != blob]
            if extra:
                problems.append(f"{admin.name}: {len(extra)} unplanned key(s) in {path}")
        groups = ctx.out("id", "-nG", admin.name).split()
        if layout.ADMIN_GROUP not in groups:
            problems.append(f"{admin.name}: not in group {layout.ADMIN_GROUP} (groups: {' '.join(groups) or '-'})")
        found.append(f"{admin.name}: key present, groups {' '.join(groups)}")
    return verdict(problems, expected, "\n".join(found))


@check("sudo_group_matches_plan",
       f"the admin group {layout.ADMIN_GROUP} holds the planned admins; Debian's sudo group nobody unplanned")
def sudo_group_matches_plan(ctx: CheckContext) -> Finding:
    planned = {a.name for a in ctx.plan.platform.admins}
    expected = f"{layout.ADMIN_GROUP} members = {{{', '.join(sorted(planned))}}}; sudo members ⊆ that set"
    problems, found = [], []
    for group in (layout.ADMIN_GROUP, "sudo"):
        entry = ctx.out("getent", "group", group).strip()
        members = {m for m in entry.split(":")[3].split(",") if m} if entry else set()
        found.append(f"{group}: {', '.join(sorted(members)) or '-'}{'' if entry else ' (no such group)'}")
        extra = members - planned
        if extra:
            problems.append(f"unplanned members of {group}: {', '.join(sorted(extra))}")
        if group == layout.ADMIN_GROUP and members != planned:
            missing = planned - members
            problems.append(f"group {group} lacks {', '.join(sorted(missing))}" if entry else f"group {group} does not exist")
    return verdict(problems, expected, "\n".join(found))


@check("sudoers_permissions", "/etc/sudoers and /etc/sudoers.d/* owned by root and not writable or readable by others")
def sudoers_permissions(ctx: CheckContext) -> Finding:
    expected = "owner root, group root, no write for group/others, nothing for others (e.g. 0440)"
    result = ctx.run("find", "/etc/sudoers", "/etc/sudoers.d", "-maxdepth", "1", "-type", "f", "-printf", "%p %u %g %m\\n")
    if result.rc != 0 and not result.stdout:
        return failed(expected, "sudo is not installed (/etc/sudoers missing)")
    problems, rows = [], []
    for line in result.stdout.splitlines():
        path, user, group, mode = line.split()
        rows.append(line)
        bits = int(mode, 8)
        if user != "root" or group != "root" or bits & 0o022 or bits & 0o007:
            problems.append(f"{path}: {user}:{group} {mode}")
    return verdict(problems, expected, "\n".join(rows))


@check("accounts_unique_ids", "user names and UIDs are unique and only root has UID 0")
def accounts_unique_ids(ctx: CheckContext) -> Finding:
    expected = "no duplicate user name or UID; UID 0 only for root; every primary GID exists"
    passwd = ctx.out("getent", "passwd")
    groups = {line.split(":")[2] for line in ctx.out("getent", "group").splitlines() if line.count(":") >= 3}
    names: dict[str, int] = {}
    uids: dict[str, list[str]] = {}
    problems = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) < 7:
            continue
        name, uid, gid = fields[0], fields[2], fields[3]
        names[name] = names.get(name, 0) + 1
        uids.setdefault(uid, []).append(name)
        if gid not in groups:
            problems.append(f"{name}: primary GID {gid} not defined")
    problems += [f"user name {n} appears {c} times" for n, c in names.items() if c > 1]
    problems += [f"UID {u} shared by {', '.join(n)}" for u, n in uids.items() if len(n) > 1 and u != "0"]
    root_like = uids.get("0", [])
    if root_like != ["root"]:
        problems.append(f"UID 0: {', '.join(root_like) or 'none'}")
    return verdict(problems, expected, f"{len(names)} accounts, UID 0: root only")


@check("accounts_no_empty_passwords", "no account has an empty password (passwd -S status NP)")
def accounts_no_empty_passwords(ctx: CheckContext) -> Finding:
    expected = "no account with status NP (no password)"
    result = ctx.run("passwd", "-S", "-a")
    if result.rc != 0:
        return Finding("error", expected, result.stderr.strip()[:300], "could not run `passwd -S -a`")
    empty = [line.split()[0] for line in result.stdout.splitlines() if len(line.split()) > 1 and line.split()[1] == "NP"]
    return verdict([f"accounts without password: {', '.join(empty)}"] if empty else [], expected,
                   f"{len(result.stdout.splitlines())} accounts, none without password")


# --- kernel and network stack ------------------------------------------------------------------------------

NETWORK_SYSCTLS = {  # per network namespace: effective inside a container too
    "net.ipv4.conf.all.accept_redirects": {"0"},
    "net.ipv4.conf.default.accept_redirects": {"0"},
    "net.ipv4.conf.all.secure_redirects": {"0"},
    "net.ipv4.conf.all.send_redirects": {"0"},
    "net.ipv4.conf.default.send_redirects": {"0"},
    "net.ipv4.conf.all.accept_source_route": {"0"},
    "net.ipv4.conf.all.rp_filter": {"1"},
    "net.ipv4.conf.all.log_martians": {"1"},
    "net.ipv4.icmp_echo_ignore_broadcasts": {"1"},
    "net.ipv4.tcp_syncookies": {"1"},
    "net.ipv6.conf.all.accept_redirects": {"0"},
    "net.ipv6.conf.default.accept_redirects": {"0"},
    "net.ipv6.conf.all.accept_source_route": {"0"},
}
KERNEL_SYSCTLS = {  # kernel-wide: a container sees (and cannot change) its host's kernel
    "kernel.randomize_va_space": {"2"},
    "kernel.kptr_restrict": {"2"},
    "kernel.dmesg_restrict": {"1"},
    "kernel.yama.ptrace_scope": {"1", "2", "3"},
    "kernel.unprivileged_bpf_disabled": {"1", "2"},
    "kernel.sysrq": {"0"},
    "fs.protected_hardlinks": {"1"},
    "fs.protected_symlinks": {"1"},
    "fs.suid_dumpable": {"0"},
}
SYSCTL_DIRS = ("/etc/sysctl.conf", "/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
               "/lib/sysctl.d")


def _effective_sysctls(ctx: CheckContext, wanted: dict[str, set[str]]) -> dict[str, str]:
    values = {}
    for key in wanted:
        result = ctx.run("sysctl", "-n", key)
        values[key] = result.stdout.strip() if result.rc == 0 else "(absent)"
    return values


def _configured_sysctls(ctx: CheckContext) -> dict[str, str]:
    """Values the sysctl.d files set (later files win, as systemd-sysctl applies them)."""
    result = ctx.run("grep", "-rsHE", "^[[:space:]]*-?[a-z0-9_.]+[[:space:]]*=", *SYSCTL_DIRS)
    entries: list[tuple[str, str, str]] = []
    for line in result.stdout.splitlines():
        path, _, setting = line.partition(":")
        key, _, value = setting.partition("=")
        entries.append((path.rsplit("/", 1)[-1], key.strip().lstrip("-"), value.strip()))
    configured: dict[str, str] = {}
    for _, key, value in sorted(entries, key=lambda e: e[0]):  # systemd-sysctl: lexical order of file names
        configured[key] = value
    return configured


@check("sysctl_network", "network stack: no redirects or source routing, reverse-path filter, SYN cookies, martians logged")
def sysctl_network(ctx: CheckContext) -> Finding:
    expected = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in NETWORK_SYSCTLS.items())
    values = _effective_sysctls(ctx, NETWORK_SYSCTLS)
    problems = [f"{k} = {v} (expected {'|'.join(sorted(NETWORK_SYSCTLS[k]))})"
                for k, v in values.items() if v not in NETWORK_SYSCTLS[k]]
    return verdict(problems, expected, "\n".join(f"{k} = {v}" for k, v in values.items()))


@check("sysctl_kernel", "kernel: full ASLR, kernel pointers and dmesg hidden, ptrace restricted, protected links, no SUID core dumps")
def sysctl_kernel(ctx: CheckContext) -> Finding:
    expected = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in KERNEL_SYSCTLS.items())
    values = _effective_sysctls(ctx, KERNEL_SYSCTLS)
    wrong = {k: v for k, v in values.items() if v not in KERNEL_SYSCTLS[k]}
    if not wrong:
        return passed(expected, "\n".join(f"{k} = {v}" for k, v in values.items()))
    if ctx.container:
        configured = _configured_sysctls(ctx)
        missing = [f"{k}: configured {configured.get(k, '(not configured)')}" for k in KERNEL_SYSCTLS
                   if configured.get(k) not in KERNEL_SYSCTLS[k]]
        found = "\n".join(f"{k} = {values[k]} (effective, host kernel); configured {configured.get(k, '-')}"
                          for k in KERNEL_SYSCTLS)
        if missing:
            return failed(expected + " (configured in sysctl.d, since the container cannot apply them)",
                          "not configured for a real host:\n" + "\n".join(missing) + "\n\n" + found)
        return _na(expected, found, f"not applicable: container ({ctx.container}); kernel-wide settings belong to the "
                                    "host kernel and cannot be set from inside. The configuration for a real host is present.")
    return failed(expected, "\n".join(f"{k} = {v} (expected {'|'.join(sorted(KERNEL_SYSCTLS[k]))})" for k, v in wrong.items()))


# --- firewall and listeners --------------------------------------------------------------------------------

def _nft_chains(ruleset: list[dict[str, Any]]) -> tuple[dict[tuple[str, str, str], dict[str, Any]],
                                                        dict[tuple[str, str, str], list[list[dict[str, Any]]]]]:
    chains, rules = {}, {}
    for item in ruleset:
        if "chain" in item:
            c = item["chain"]
            chains[(c["family"], c["table"], c["name"])] = c
        elif "rule" in item:
            r = item["rule"]
            rules.setdefault((r["family"], r["table"], r["chain"]), []).append(r.get("expr", []))
    return chains, rules


def _ports(right: Any) -> set[int] | None:
    if isinstance(right, int):
        return {right}
    if isinstance(right, str) and right.isdigit():
        return {int(right)}
    if isinstance(right, dict) and "set" in right:
        out: set[int] = set()
        for item in right["set"]:
            sub = _ports(item)
            if sub is None:
                return None
            out |= sub
        return out
    if isinstance(right, dict) and "range" in right:
        low, high = right["range"]
        return set(range(int(low), int(high) + 1))
    if isinstance(right, list):
        return _ports({"set": right})
    return None


def _classify_accept(expr: list[dict[str, Any]]) -> tuple[str, set[int]]:
    """What an accepting rule lets in: loopback, established, icmp, tcp ports, or something else."""
    kinds: list[str] = []
    ports: set[int] = set()
    for e in expr:
        match = e.get("match")
        if not match:
            continue
        left, right = match.get("left", {}), match.get("right")
        if "meta" in left and left["meta"].get("key") in {"iif", "iifname"}:
            kinds.append("loopback" if right == "lo" else f"interface {right}")
        elif "ct" in left and left["ct"].get("key") == "state":
            states = right if isinstance(right, list) else [right]
            if set(states) <= {"new"}:
                continue  # narrows a port rule to new connections; admits nothing by itself
            kinds.append("established" if set(states) <= {"established", "related"} else f"ct state {states}")
        elif "payload" in left and left["payload"].get("field") == "dport":
            proto = left["payload"].get("protocol")
            found = _ports(right)
            if proto == "tcp" and found is not None:
                kinds.append("tcp")
                ports |= found
            else:
                kinds.append(f"{proto} dport {right}")
        elif ("payload" in left and left["payload"].get("protocol") in {"icmp", "icmpv6"}) or \
                ("meta" in left and left["meta"].get("key") == "l4proto" and
                 (right in {"icmp", "ipv6-icmp", "icmpv6"} or (isinstance(right, dict) and "set" in right and
                  set(right["set"]) <= {"icmp", "ipv6-icmp", "icmpv6"}))):
            kinds.append("icmp")
        elif "meta" in left and left["meta"].get("key") in {"l4proto", "nfproto", "protocol"}:
            continue  # narrows further matches; harmless on its own
    if not kinds:
        return "everything", set()
    for preferred in ("loopback", "established", "icmp", "tcp"):
        if preferred in kinds and all(k in {preferred, "tcp", "icmp"} or k == preferred for k in kinds):
            return preferred, ports
    return "; ".join(kinds), ports


@check("firewall_default_deny", "nftables: an input chain with policy drop admits only loopback, replies and TCP 22/80/443")
def firewall_default_deny(ctx: CheckContext) -> Finding:
    public = set(ctx.plan.public_tcp_ports)
    expected = (f"an inet (or ip+ip6) filter input chain with policy drop; accepts only iif lo, ct established/related, "
                f"ICMP and tcp dport ⊆ {sorted(public)}")
    result = ctx.run("nft", "-j", "list", "ruleset")
    if result.rc != 0:
        return failed(expected, f"`nft list ruleset` failed: {(result.stderr or 'nft not installed').strip()[:300]}")
    try:
        ruleset = json.loads(result.stdout or "{}").get("nftables", [])
    except json.JSONDecodeError:
        return Finding("error", expected, result.stdout[:300], "nft printed no JSON")
    chains, rules = _nft_chains(ruleset)
    drop_inputs = [k for k, c in chains.items() if c.get("hook") == "input" and c.get("policy") == "drop"
                   and c.get("type", "filter") == "filter"]
    if not drop_inputs:
        hooks = [f"{k[0]} {k[1]} {k[2]} policy {c.get('policy')}" for k, c in chains.items() if c.get("hook") == "input"]
        return failed(expected, "no input chain with policy drop" + (f"; input chains: {'; '.join(hooks)}" if hooks else
                                                                      "; the ruleset is empty"))
    families = {k[0] for k in drop_inputs}
    problems = []
    if "inet" not in families and not {"ip", "ip6"} <= families:
        problems.append(f"default deny only for {', '.join(sorted(families))}: the other IP version is unfiltered")
    seen: set[str] = set()
    accepted_ports: set[int] = set()

    def walk(key: tuple[str, str, str], depth: int = 0) -> None:
        for expr in rules.get(key, []):
            verbs = [next(iter(e)) for e in expr if isinstance(e, dict)]
            jump = next((e.get("jump") or e.get("goto") for e in expr if "jump" in e or "goto" in e), None)
            if jump and depth < 5:
                walk((key[0], key[1], jump["target"]), depth + 1)
            if "accept" not in verbs:
                continue
            kind, ports = _classify_accept(expr)
            seen.add(kind)
            accepted_ports.update(ports)
            if kind not in {"loopback", "established", "icmp", "tcp"}:
                problems.append(f"{key[0]} {key[1]} {key[2]}: accepts {kind}")

    for key in drop_inputs:
        walk(key)
    extra = accepted_ports - public
    if extra:
        problems.append(f"tcp ports open beyond the plan: {sorted(extra)}")
    for needed in ("loopback", "established"):
        if needed not in seen:
            problems.append(f"no rule accepting {needed} traffic")
    if 22 not in accepted_ports:
        problems.append("tcp 22 not accepted (admins would be locked out)")
    return verdict(problems, expected, f"policy drop on {', '.join(' '.join(k) for k in drop_inputs)}; accepted: "
                                       f"{', '.join(sorted(seen))}; tcp ports {sorted(accepted_ports)}")


@check("listeners_public_only", "ss: only the public TCP ports listen beyond loopback; no UDP beyond loopback")
def listeners_public_only(ctx: CheckContext) -> Finding:
    public = set(ctx.plan.public_tcp_ports)
    expected = f"non-loopback listeners only on tcp {sorted(public)}"
    listeners = ctx.listeners
    if listeners is None:
        return Finding("error", expected, "`ss` failed", "could not list sockets")
    problems = [f"{proto} {addr}:{port} {proc}" for proto, addr, port, proc in listeners
                if not is_loopback(addr) and not (proto == "tcp" and port in public)]
    shown = "\n".join(f"{p} {a}:{n} {proc}" for p, a, n, proc in listeners)
    return verdict(["listening beyond loopback: " + "; ".join(problems)] if problems else [], expected, shown)


# --- patching --------------------------------------------------------------------------------------------------

@check("unattended_upgrades_enabled", "unattended-upgrades installed, enabled daily, security origin allowed, timer active")
def unattended_upgrades_enabled(ctx: CheckContext) -> Finding:
    expected = ('package unattended-upgrades installed; APT::Periodic::Update-Package-Lists "1" and '
                'APT::Periodic::Unattended-Upgrade "1"; an origin pattern for -security; apt-daily-upgrade.timer active')
    problems, found = [], []
    status = ctx.out("dpkg-query", "-W", "-f", "${Status}", "unattended-upgrades").strip()
    found.append(f"unattended-upgrades: {status or 'not installed'}")
    if status != "install ok installed":
        problems.append("unattended-upgrades is not installed")
    dump = ctx.out("apt-config", "dump")
    for key in ("APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade"):
        line = next((ln for ln in dump.splitlines() if ln.startswith(f"{key} ")), f'{key} (unset)')
        found.append(line)
        if '"1"' not in line:
            problems.append(f"{key} not \"1\"")
    origins = [ln for ln in dump.splitlines() if ln.startswith(("Unattended-Upgrade::Origins-Pattern::",
                                                                "Unattended-Upgrade::Allowed-Origins::"))]
    found += origins
    if not any("security" in ln.lower() for ln in origins):
        problems.append("no security origin configured for unattended upgrades")
    timer = ctx.out("systemctl", "is-active", "apt-daily-upgrade.timer").strip() or "inactive"
    found.append(f"apt-daily-upgrade.timer {timer}")
    if timer != "active":
        problems.append("apt-daily-upgrade.timer not active")
    return verdict(problems, expected, "\n".join(found)) if not problems else failed(expected, "\n".join(problems + [""] + found))


@check("security_repository_configured", "APT knows the distribution's security repository")
def security_repository_configured(ctx: CheckContext) -> Finding:
    expected = "apt-cache policy lists a *-security archive"
    policy = ctx.out("apt-cache", "policy")
    lines = [ln.strip() for ln in policy.splitlines() if "-security" in ln]
    return (passed if lines else failed)(expected, "\n".join(lines[:6]) or "no -security archive in apt-cache policy")


# --- logging and time ------------------------------------------------------------------------------------------

@check("journald_persistent", "journald stores the journal persistently under /var/log/journal")
def journald_persistent(ctx: CheckContext) -> Finding:
    expected = "Storage=persistent (or auto with /var/log/journal present) and a system.journal written there"
    config = ctx.out("systemd-analyze", "cat-config", "systemd/journald.conf")
    storage = "auto"
    for line in config.splitlines():
        if line.strip().startswith("Storage="):
            storage = line.strip().split("=", 1)[1]
    files = ctx.out("find", "/var/log/journal", "-maxdepth", "2", "-name", "system*.journal").split()
    found = f"Storage={storage}; journal files: {', '.join(files) or 'none in /var/log/journal'}"
    ok = storage in {"persistent", "auto"} and bool(files)
    return (passed if ok else failed)(expected, found)


AUDIT_WATCHED = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d",
                 "/etc/ssh/sshd_config")


@check("auditd_rules", "auditd runs and watches identity files, sudoers and the SSH configuration")
def auditd_rules(ctx: CheckContext) -> Finding:
    expected = f"auditd active with watch rules on {', '.join(AUDIT_WATCHED)}"
    active = ctx.out("systemctl", "is-active", "auditd.service").strip() or "inactive"
    loaded = ctx.run("auditctl", "-l")
    rules = loaded.stdout if loaded.rc == 0 else ""
    configured = ctx.out("grep", "-rhsE", "^-[wa] ", "/etc/audit/rules.d", "/etc/audit/audit.rules")
    missing_loaded = [p for p in AUDIT_WATCHED if p not in rules]
    missing_configured = [p for p in AUDIT_WATCHED if p not in configured]
    found = (f"auditd.service {active}; loaded rules: {len(rules.splitlines())}; configured rules: "
             f"{len(configured.splitlines())}\n" + configured[:1500])
    if active == "active" and not missing_loaded:
        return passed(expected, found)
    if ctx.container and active != "active":
        if missing_configured:
            return failed(expected + " (configured in /etc/audit/rules.d, since a container cannot run auditd)",
                          f"rules missing for {', '.join(missing_configured)}\n{found}")
        return _na(expected, found, f"not applicable: container ({ctx.container}); the kernel audit subsystem belongs "
                                    "to the host kernel, auditd cannot run inside. The rules for a real host are present.")
    return failed(expected, (f"auditd {active}; not watched: {', '.join(missing_loaded)}\n" if missing_loaded else "") + found)


@check("time_synchronised", "the clock is synchronised by NTP (systemd-timesyncd or chrony)")
def time_synchronised(ctx: CheckContext) -> Finding:
    expected = "timedatectl: NTP=yes, NTPSynchronized=yes"
    show = ctx.out("timedatectl", "show")
    values = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
    found = f"NTP={values.get('NTP', '?')}, NTPSynchronized={values.get('NTPSynchronized', '?')}"
    if values.get("NTP") == "yes" and values.get("NTPSynchronized") == "yes":
        return passed(expected, found)
    services = {s: ctx.out("systemctl", "is-enabled", s).strip() or "not installed"
                for s in ("systemd-timesyncd.service", "chrony.service")}
    found += "; " + ", ".join(f"{s} {v}" for s, v in services.items())
    if ctx.container:
        if not any(v == "enabled" for v in services.values()):
            return failed(expected + " (a time sync service enabled for a real host)", found)
        return _na(expected, found, f"not applicable: container ({ctx.container}); the clock is the host kernel's and "
                                    "time sync services skip containers (ConditionVirtualization=!container). "
                                    "A time sync service is enabled for a real host.")
    return failed(expected, found)


# --- web: TLS and headers ----------------------------------------------------------------------------------------

def _per_tenant(ctx: CheckContext, expected: str, probe: Callable[[Any], list[str]], found_ok: Callable[[Any], str]) -> Finding:
    if not ctx.tenants:
        return _no_tenants(expected)
    problems, found = [], []
    for tenant in ctx.tenants:
        issues = probe(tenant)
        problems += [f"{tenant.domain}: {i}" for i in issues]
        found.append(f"{tenant.domain}: {found_ok(tenant) if not issues else '; '.join(issues)}")
    return verdict(problems, expected, "\n".join(found))


@check("tls_protocols", "each tenant vhost: TLS 1.2/1.3 only, no TLS 1.0/1.1, no weak TLS 1.2 suites")
def tls_protocols(ctx: CheckContext) -> Finding:
    expected = "TLS 1.0 and 1.1 refused; TLS 1.2 accepted with an AEAD suite; CBC/RSA-kx suites refused"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        address, issues = ctx.target.address, []
        for old in ("TLSv1", "TLSv1.1"):
            shake = netprobe.handshake(address, netprobe.HTTPS_PORT, tenant.domain, old)
            if shake.ok:
                issues.append(f"accepts {old} ({shake.cipher})")
        modern = netprobe.handshake(address, netprobe.HTTPS_PORT, tenant.domain, "TLSv1.2")
        if not modern.ok:
            issues.append(f"TLS 1.2 handshake failed: {modern.error}")
        elif not any(x in modern.cipher for x in ("GCM", "CHACHA20")):
            issues.append(f"TLS 1.2 negotiates non-AEAD {modern.cipher}")
        weak = netprobe.handshake(address, netprobe.HTTPS_PORT, tenant.domain, "TLSv1.2", ciphers=netprobe.WEAK_TLS12_CIPHERS)
        if weak.ok:
            issues.append(f"accepts weak TLS 1.2 suite {weak.cipher}")
        best = netprobe.handshake(address, netprobe.HTTPS_PORT, tenant.domain)
        seen[tenant.slug] = f"TLS 1.2 {modern.cipher}; best {best.version} {best.cipher}"
        return issues

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("tls_certificate", "each tenant vhost presents a current certificate for its domain (key ≥ 2048 RSA / 256 EC)")
def tls_certificate(ctx: CheckContext) -> Finding:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    expected = "certificate valid now, SAN contains the tenant domain, RSA ≥ 2048 or EC ≥ 256 bit" + (
        f", chain verifies against {ctx.target.ca_file}" if ctx.target.ca_file else "")
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        shake = netprobe.handshake(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, ca_file=ctx.target.ca_file)
        if not shake.ok or not shake.certificate:
            return [f"no certificate: {shake.error}"]
        cert = x509.load_der_x509_certificate(shake.certificate)
        issues = []
        now = datetime.datetime.now(datetime.timezone.utc)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            issues.append(f"not valid now ({cert.not_valid_before_utc:%Y-%m-%d} – {cert.not_valid_after_utc:%Y-%m-%d})")
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            names = []
        if tenant.domain not in names:
            issues.append(f"SAN {names} lacks {tenant.domain}")
        key = cert.public_key()
        bits = key.key_size if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)) else 0
        minimum = 2048 if isinstance(key, rsa.RSAPublicKey) else 256
        if bits < minimum:
            issues.append(f"{type(key).__name__} {bits} bit")
        seen[tenant.slug] = (f"issuer {cert.issuer.rfc4514_string()}, valid until {cert.not_valid_after_utc:%Y-%m-%d}, "
                             f"{bits}-bit key" + ("" if ctx.target.ca_file else "; trust chain not verified (no CA file given)"))
        return issues

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


HSTS_MIN_AGE = 15552000  # 180 days


@check("http_security_headers", "each tenant vhost sends HSTS, nosniff, frame and referrer policies")
def http_security_headers(ctx: CheckContext) -> Finding:
    expected = (f"Strict-Transport-Security max-age ≥ {HSTS_MIN_AGE}; X-Content-Type-Options nosniff; X-Frame-Options "
                "or CSP frame-ancestors; Referrer-Policy")
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        answer = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, "/")
        seen[tenant.slug] = netprobe.describe(answer)
        if not answer.ok:
            return [seen[tenant.slug]]
        issues = []
        hsts = answer.header("strict-transport-security") or ""
        age = next((int(p.split("=", 1)[1]) for p in hsts.replace(" ", "").split(";")
                    if p.lower().startswith("max-age=") and p.split("=", 1)[1].isdigit()), 0)
        if age < HSTS_MIN_AGE:
            issues.append(f"HSTS {hsts or 'missing'}")
        if (answer.header("x-content-type-options") or "").lower() != "nosniff":
            issues.append("X-Content-Type-Options missing")
        if not answer.header("x-frame-options") and "frame-ancestors" not in (answer.header("content-security-policy") or ""):
            issues.append("no X-Frame-Options / frame-ancestors")
        if not answer.header("referrer-policy"):
            issues.append("Referrer-Policy missing")
        return issues

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("server_version_hidden", "responses and error pages do not reveal the web server's version")
def server_version_hidden(ctx: CheckContext) -> Finding:
    expected = "Server header without a version number; error page without version"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        answer = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, "/counselkit-audit-missing")
        if not answer.ok:
            return [f"no answer: {answer.error}"]
        server = answer.header("server") or "(none)"
        seen[tenant.slug] = f"HTTP {answer.status}, Server: {server}"
        issues = []
        if any(ch.isdigit() for ch in server):
            issues.append(f"Server header {server}")
        body = answer.body.decode("utf-8", "replace")
        if "nginx/" in body:
            issues.append("error page shows the nginx version")
        return issues

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("http_redirects_to_https", "plain HTTP on each tenant domain redirects permanently to HTTPS")
def http_redirects_to_https(ctx: CheckContext) -> Finding:
    expected = "HTTP 301/308 with Location https://<domain>/…"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        answer = netprobe.get(ctx.target.address, netprobe.HTTP_PORT, tenant.domain, "/", tls=False)
        location = answer.header("location") or ""
        seen[tenant.slug] = f"HTTP {answer.status} → {location}" if answer.ok else answer.error
        if not answer.ok:
            return [f"no answer on port {netprobe.HTTP_PORT}: {answer.error}"]
        if answer.status not in {301, 308} or not location.startswith(f"https://{tenant.domain}"):
            return [f"HTTP {answer.status}, Location {location or '-'}"]
        return []

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


UNKNOWN_NAME = "counselkit-audit.invalid"


@check("default_vhost_catch_all", "a request for an unknown name gets no tenant content (catch-all default vhost)")
def default_vhost_catch_all(ctx: CheckContext) -> Finding:
    expected = "unknown SNI/Host: TLS handshake refused, connection closed, or 4xx — never 2xx/3xx to a tenant"
    address = ctx.target.address
    problems, found = [], []
    answer = netprobe.get(address, netprobe.HTTPS_PORT, UNKNOWN_NAME, "/")
    found.append(f"https Host {UNKNOWN_NAME}: {netprobe.describe(answer) if answer.ok else 'refused (' + answer.error + ')'}")
    if answer.ok and answer.status < 400:
        problems.append(f"https for an unknown name answers {answer.status}")
    plain = netprobe.get(address, netprobe.HTTP_PORT, UNKNOWN_NAME, "/", tls=False)
    found.append(f"http Host {UNKNOWN_NAME}: {netprobe.describe(plain) if plain.ok else 'closed (' + plain.error + ')'}")
    if plain.ok and (plain.status < 300 or any(t.domain in (plain.header("location") or "") for t in ctx.tenants)):
        problems.append(f"http for an unknown name answers {plain.status} {plain.header('location') or ''}")
    if not answer.ok and not plain.ok and "refused" in answer.error.lower() and "refused" in plain.error.lower():
        problems.append("nothing listens on 80/443: no web server")
    return verdict(problems, expected, "\n".join(found))


# --- PostgreSQL -------------------------------------------------------------------------------------------------

@check("postgres_local_only", "PostgreSQL listens on loopback only")
def postgres_local_only(ctx: CheckContext) -> Finding:
    expected = f"port {layout.POSTGRES_PORT} bound to 127.0.0.1/::1 only; listen_addresses localhost"
    listeners = ctx.listeners or []
    sockets = [f"{a}:{p}" for proto, a, p, _ in listeners if proto == "tcp" and p == layout.POSTGRES_PORT]
    ok, rows, error = ctx.psql("SHOW listen_addresses")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    value = rows[0][0] if rows else ""
    problems = [f"listening on {s}" for s in sockets if not is_loopback(s.rsplit(':', 1)[0])]
    if value not in {"localhost", "127.0.0.1", "::1", "127.0.0.1,::1", "localhost,127.0.0.1", ""}:
        problems.append(f"listen_addresses = {value}")
    return verdict(problems, expected, f"listen_addresses = {value}; sockets: {', '.join(sockets) or 'unix socket only'}")


@check("postgres_scram_only", "password_encryption scram-sha-256; pg_hba: no trust/md5/password, TCP from loopback only")
def postgres_scram_only(ctx: CheckContext) -> Finding:
    expected = "password_encryption = scram-sha-256; hba rules use peer (local) or scram-sha-256; host rules loopback only"
    ok, rows, error = ctx.psql("SHOW password_encryption")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    encryption = rows[0][0] if rows else "?"
    ok, hba, error = ctx.psql("SELECT line_number, type, array_to_string(database, ','), array_to_string(user_name, ','), "
                              "coalesce(address, ''), coalesce(netmask, ''), auth_method FROM pg_hba_file_rules "
                              "WHERE error IS NULL ORDER BY line_number")
    if not ok:
        return Finding("error", expected, error, "could not read pg_hba_file_rules")
    problems = [] if encryption == "scram-sha-256" else [f"password_encryption = {encryption}"]
    for line, kind, dbs, users, address, mask, method in hba:
        if method not in {"peer", "scram-sha-256", "reject"}:
            problems.append(f"pg_hba line {line}: {kind} {dbs} {users} {address} {method}")
        if kind.startswith("host") and method != "reject" and address and not (address.startswith("127.") or address == "::1"):
            problems.append(f"pg_hba line {line}: {kind} from {address}/{mask}")
    shown = "\n".join(" ".join(r) for r in hba)
    return verdict(problems, expected, f"password_encryption = {encryption}\n{shown}")


@check("postgres_roles_least_privilege", "tenant roles are plain roles; PUBLIC may not connect to tenant databases")
def postgres_roles_least_privilege(ctx: CheckContext) -> Finding:
    expected = "each tenant role exists without SUPERUSER/CREATEDB/CREATEROLE/REPLICATION/BYPASSRLS; PUBLIC lacks CONNECT to them and to the maintenance databases"
    if not ctx.tenants:
        return _no_tenants(expected)
    names = ",".join(f"'{t.db_user}'" for t in ctx.tenants)
    ok, rows, error = ctx.psql(f"SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                               f"FROM pg_roles WHERE rolname IN ({names}) ORDER BY rolname")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    problems = []
    present = {r[0] for r in rows}
    problems += [f"role {t.db_user} missing" for t in ctx.tenants if t.db_user not in present]
    for name, *flags in rows:
        granted = [attr for attr, flag in zip(("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS"), flags)
                   if flag == "t"]
        if granted:
            problems.append(f"role {name} has {', '.join(granted)}")
    dbs = ",".join(f"'{name}'" for name in [t.db_name for t in ctx.tenants] + list(layout.POSTGRES_MAINTENANCE_DBS))
    ok, public, error = ctx.psql(f"SELECT datname, has_database_privilege('public', datname, 'CONNECT') FROM pg_database "
                                 f"WHERE datname IN ({dbs}) ORDER BY datname")
    problems += [f"PUBLIC may connect to {d}" for d, flag in public if flag == "t"]
    problems += [f"database {t.db_name} missing" for t in ctx.tenants if t.db_name not in {p[0] for p in public}]
    return verdict(problems, expected, "\n".join("|".join(r) for r in rows + public))


@check("postgres_passwords_hashed", "tenant role passwords are stored as SCRAM-SHA-256 verifiers, never in clear or MD5")
def postgres_passwords_hashed(ctx: CheckContext) -> Finding:
    expected = "pg_authid.rolpassword of each tenant role starts with SCRAM-SHA-256$ (only this boolean is read)"
    if not ctx.tenants:
        return _no_tenants(expected)
    names = ",".join(f"'{t.db_user}'" for t in ctx.tenants)
    ok, rows, error = ctx.psql(f"SELECT rolname, coalesce(rolpassword LIKE 'SCRAM-SHA-256$%', false) FROM pg_authid "
                               f"WHERE rolname IN ({names}) ORDER BY rolname")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    problems = [f"role {name}: password not a SCRAM verifier" for name, flag in rows if flag != "t"]
    problems += [f"role {t.db_user} missing" for t in ctx.tenants if t.db_user not in {r[0] for r in rows}]
    return verdict(problems, expected, "\n".join(f"{n}: SCRAM verifier" for n, _ in rows))


# --- Synapse ------------------------------------------------------------------------------------------------

SANDBOX = {"NoNewPrivileges": {"yes"}, "ProtectSystem": {"strict", "full"}, "PrivateTmp": {"yes"}}


@check("synapse_units_sandboxed", "each tenant's matrix-synapse@<slug> unit runs, as its own user, sandboxed by systemd")
def synapse_units_sandboxed(ctx: CheckContext) -> Finding:
    expected = "ActiveState=active, User=<tenant user>, process owned by it, NoNewPrivileges=yes, ProtectSystem=strict|full, PrivateTmp=yes"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        props = ["ActiveState", "User", "MainPID", *SANDBOX]
        out = ctx.out("systemctl", "show", tenant.unit, *(f"--property={p}" for p in props))
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        seen[tenant.slug] = ", ".join(f"{k}={values.get(k, '?')}" for k in props)
        issues = []
        if values.get("ActiveState") != "active":
            issues.append(f"{tenant.unit} {values.get('ActiveState', 'unknown')}")
        if values.get("User") != tenant.unix_user:
            issues.append(f"User={values.get('User') or '(root)'} (expected {tenant.unix_user})")
        issues += [f"{k}={values.get(k, '?')}" for k, allowed in SANDBOX.items() if values.get(k) not in allowed]
        pid = values.get("MainPID", "0")
        if pid not in {"", "0"}:
            owner = ctx.out("ps", "-o", "user:64=", "-p", pid).strip()
            seen[tenant.slug] += f", process owner {owner}"
            if owner != tenant.unix_user:
                issues.append(f"process {pid} runs as {owner}")
        return issues

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


# `systemd-analyze security` rates a unit's exposure from 0 (locked down) to 10; up to 2.0 is "OK".
UNIT_EXPOSURE_MAX = 2.0
_OVERALL = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?) ")


def counselkit_units(ctx: CheckContext) -> list[str]:
    """Every unit counselkit installs on this host, by the plan: the tenants' Synapse instances, the backup jobs,
    the AIDE baseline unit, and Keycloak where it is planned."""
    from counselkit.backup.jobs import host_jobs

    units = [t.unit for t in ctx.tenants]
    units += [job.names["service"] for job in host_jobs(ctx.plan, ctx.plan_host.name)]
    units.append(layout.AIDE_INIT_UNIT)
    if ctx.plan.platform.artifacts.keycloak is not None:
        units.append(layout.KEYCLOAK_UNIT)
    return units


def exposure_scores(output: str) -> dict[str, float]:
    """unit -> overall exposure, from the text of `systemd-analyze security UNIT...` (its JSON has no total)."""
    return {m.group(1): float(m.group(2)) for m in _OVERALL.finditer(output)}


def exposure_problems(scores: dict[str, float], units: list[str], limit: float = UNIT_EXPOSURE_MAX) -> list[str]:
    problems = [f"{unit}: exposure {scores[unit]:.1f} (> {limit:.1f})" for unit in units
                if unit in scores and scores[unit] > limit]
    problems += [f"{unit}: no score in the output of systemd-analyze security" for unit in units if unit not in scores]
    return problems


@check("units_exposure_ok", f"systemd-analyze security: every counselkit unit's exposure is at most {UNIT_EXPOSURE_MAX}")
def units_exposure_ok(ctx: CheckContext) -> Finding:
    expected = f"overall exposure ≤ {UNIT_EXPOSURE_MAX} (\"OK\") for every installed counselkit unit"
    planned = counselkit_units(ctx)
    out = ctx.out("systemctl", "show", "--property=Id", "--property=LoadState", *planned)
    states = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line) for block in out.split("\n\n")]
    loaded = [s["Id"] for s in states if s.get("LoadState") == "loaded" and s.get("Id")]
    missing = [u for u in planned if u not in loaded]
    if not loaded:
        return failed(expected, f"none of the planned units is installed: {', '.join(planned)}")
    result = ctx.run("systemd-analyze", "security", "--no-pager", *loaded)
    scores = exposure_scores(result.stdout)
    problems = exposure_problems(scores, loaded)
    found = [f"{unit}: {scores[unit]:.1f}" for unit in loaded if unit in scores]
    found += [f"{unit}: not installed (not assessed)" for unit in missing]
    return verdict(problems, expected, "\n".join(found))


@check("synapse_loopback_only", "each tenant's Synapse listens on 127.0.0.1:<planned port> only")
def synapse_loopback_only(ctx: CheckContext) -> Finding:
    expected = "a listener on the tenant's planned loopback port, none on other addresses"
    listeners = ctx.listeners or []

    def probe(tenant: Any) -> list[str]:
        mine = [(a, p) for proto, a, p, _ in listeners if proto == "tcp" and p == tenant.synapse_port]
        if not mine:
            return [f"nothing listens on port {tenant.synapse_port}"]
        return [f"listens on {a}:{p}" for a, p in mine if not is_loopback(a)]

    return _per_tenant(ctx, expected, probe, lambda t: f"127.0.0.1:{t.synapse_port}")


@check("synapse_registration_closed", "public registration is refused on each tenant homeserver")
def synapse_registration_closed(ctx: CheckContext) -> Finding:
    expected = "GET /_matrix/client/v3/register/available → 403 M_FORBIDDEN (registration disabled)"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        answer = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain,
                              "/_matrix/client/v3/register/available?username=counselkit-audit-probe")
        body = answer.body.decode("utf-8", "replace")[:300]
        seen[tenant.slug] = f"HTTP {answer.status} {body}" if answer.ok else answer.error
        if not answer.ok:
            return [f"no answer: {answer.error}"]
        if answer.status == 403 and "M_FORBIDDEN" in body:
            return []
        return [f"HTTP {answer.status} {body}"]

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("synapse_federation_off", "federation endpoints are not reachable on tenant domains that did not opt in")
def synapse_federation_off(ctx: CheckContext) -> Finding:
    # /.well-known/matrix/server is only a delegation hint (served for every tenant, as clients expect); what
    # federation needs are the server-server and key APIs, so those are probed.
    expected = ("/_matrix/federation/v1/version and /_matrix/key/v2/server not 2xx unless the tenant has "
                "federation: true; nothing on 8448")
    listeners = ctx.listeners or []
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        if tenant.tenant.federation:
            seen[tenant.slug] = "federation enabled in tenants.yaml (federation: true)"
            return []
        issues = []
        results = []
        for path in ("/_matrix/federation/v1/version", "/_matrix/key/v2/server"):
            answer = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, path)
            results.append(f"{path} → {answer.status if answer.ok else answer.error}")
            if not answer.ok:
                issues.append(f"{path}: no answer ({answer.error})")
            elif 200 <= answer.status < 300:
                issues.append(f"{path} answers {answer.status}")
        seen[tenant.slug] = "; ".join(results)
        return issues

    finding = _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))
    federation_port = [f"{a}:{p}" for proto, a, p, _ in listeners if proto == "tcp" and p == 8448]
    if federation_port and finding.status in {"pass", "na"}:
        return failed(expected, f"listening on {', '.join(federation_port)}")
    return finding


# --- tenant isolation -------------------------------------------------------------------------------------------

@check("tenant_users_distinct", "each tenant has its own system user (distinct UID, no login shell)")
def tenant_users_distinct(ctx: CheckContext) -> Finding:
    expected = "getent passwd <tenant user>: distinct UIDs, shell nologin/false"
    if not ctx.tenants:
        return _no_tenants(expected)
    problems, found, uids = [], [], {}
    for tenant in ctx.tenants:
        entry = ctx.out("getent", "passwd", tenant.unix_user).strip()
        if not entry:
            problems.append(f"{tenant.unix_user}: no such user")
            continue
        fields = entry.split(":")
        uids.setdefault(fields[2], []).append(tenant.unix_user)
        found.append(f"{tenant.unix_user}: uid {fields[2]}, shell {fields[6]}")
        if not fields[6].endswith(("nologin", "false")):
            problems.append(f"{tenant.unix_user}: login shell {fields[6]}")
    problems += [f"UID {u} shared by {', '.join(n)}" for u, n in uids.items() if len(n) > 1]
    return verdict(problems, expected, "\n".join(found))


@check("tenant_files_private", "a tenant's config, data and media are closed to other users; its signing key to all but itself")
def tenant_files_private(ctx: CheckContext) -> Finding:
    expected = "config/data/media dirs owned by root or the tenant user, no access for others; signing key owned by the tenant user, mode ≤ 0600"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        paths = [tenant.config_dir, tenant.data_dir, tenant.media_dir, tenant.signing_key_path]
        result = ctx.run("stat", "-c", "%n %U %G %a", *paths)
        rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if len(line.split()) == 4}
        seen[tenant.slug] = "; ".join(" ".join([p, *rows.get(p, ["missing"])]) for p in paths)
        issues = []
        for path in paths:
            if path not in rows:
                issues.append(f"{path} missing")
                continue
            user, group, mode = rows[path]
            bits = int(mode, 8)
            if path == tenant.signing_key_path:
                if user != tenant.unix_user or bits & 0o077:
                    issues.append(f"{path} {user}:{group} {mode}")
            elif user not in {"root", tenant.unix_user} or group not in {"root", tenant.unix_user} or bits & 0o007:
                issues.append(f"{path} {user}:{group} {mode}")
        return issues

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


@check("tenant_db_isolated", "each tenant role may connect to its own database and to no other")
def tenant_db_isolated(ctx: CheckContext) -> Finding:
    expected = "has_database_privilege(role, db, CONNECT) true only for the tenant's own database"
    if not ctx.tenants:
        return _no_tenants(expected)
    names = ",".join(f"'{t.db_user}'" for t in ctx.tenants)
    ok, rows, error = ctx.psql(f"SELECT r.rolname, d.datname, has_database_privilege(r.rolname, d.datname, 'CONNECT') "
                               f"FROM pg_roles r CROSS JOIN pg_database d WHERE r.rolname IN ({names}) "
                               f"AND NOT d.datistemplate ORDER BY 1, 2")
    if not ok:
        return failed(expected, f"PostgreSQL not reachable as postgres: {error}")
    own = {t.db_user: t.db_name for t in ctx.tenants}
    problems = []
    for role, db, allowed in rows:
        if allowed == "t" and own.get(role) != db:
            problems.append(f"{role} may connect to {db}")
        if allowed != "t" and own.get(role) == db:
            problems.append(f"{role} may not connect to its own {db}")
    if not rows:
        problems.append("no tenant roles found")
    return verdict(problems, expected, "\n".join(f"{r} → {d}: {'yes' if a == 't' else 'no'}" for r, d, a in rows))


@check("tenant_vhost_routing", "each tenant domain serves its own homeserver (well-known base_url and client API)")
def tenant_vhost_routing(ctx: CheckContext) -> Finding:
    expected = "/.well-known/matrix/client names https://<domain>; /_matrix/client/versions answers 200"
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        issues = []
        known = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, "/.well-known/matrix/client")
        base = ""
        if known.ok and known.status == 200:
            try:
                base = json.loads(known.body or b"{}").get("m.homeserver", {}).get("base_url", "")
            except (json.JSONDecodeError, AttributeError):
                base = ""
        if not base.rstrip("/").endswith(f"//{tenant.domain}"):
            issues.append(f"well-known base_url {base or '-'} ({known.status if known.ok else known.error})")
        versions = netprobe.get(ctx.target.address, netprobe.HTTPS_PORT, tenant.domain, "/_matrix/client/versions")
        if not (versions.ok and versions.status == 200):
            issues.append(f"/_matrix/client/versions → {versions.status if versions.ok else versions.error}")
        seen[tenant.slug] = f"base_url {base}; client API {versions.status if versions.ok else versions.error}"
        return issues

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


# --- secrets at rest ------------------------------------------------------------------------------------------

@check("secret_files_protected", "no file under the counselkit config, TLS and backup directories is readable by others")
def secret_files_protected(ctx: CheckContext) -> Finding:
    roots = [layout.COUNSELKIT_ETC]
    if ctx.run("test", "-d", layout.KEYCLOAK_HOME).rc == 0:
        roots.append(f"{layout.KEYCLOAK_HOME}/conf")
    expected = f"{layout.COUNSELKIT_ETC} exists; no file below {', '.join(roots)} readable/writable by others; backup dirs mode ≤ 0700"
    if ctx.run("test", "-d", layout.COUNSELKIT_ETC).rc != 0:
        return failed(expected, f"{layout.COUNSELKIT_ETC} does not exist: nothing was deployed")
    exposed = ctx.out("find", *roots, "-type", "f", "-perm", "/o+rw", "-printf", "%p %u:%g %m\\n").splitlines()
    # Public material that may be world-readable: certificates, web client config.
    exposed = [line for line in exposed if not line.split()[0].endswith((".crt", ".pem.pub", ".pub", "fullchain.pem", "chain.pem"))]
    problems = [f"readable by others: {line}" for line in exposed]
    for tenant in ctx.tenants:
        row = ctx.out("stat", "-c", "%U %a", tenant.backup_config_dir).split()
        if not row:
            problems.append(f"{tenant.backup_config_dir} missing")
        elif int(row[1], 8) & 0o077:
            problems.append(f"{tenant.backup_config_dir} {row[0]} {row[1]}")
    return verdict(problems, expected, f"no file below {', '.join(roots)} accessible to others")


# --- backups ------------------------------------------------------------------------------------------------

def _backup_timers(ctx: CheckContext) -> list[str]:
    out = ctx.out("systemctl", "list-units", "--all", "--type=timer", "--plain", "--no-legend", "--no-pager")
    return [line.split()[0] for line in out.splitlines() if line.split() and "backup" in line.split()[0]]


@check("backup_timers_active", "a backup timer is active for every tenant and its last run succeeded")
def backup_timers_active(ctx: CheckContext) -> Finding:
    expected = "an active *backup* timer per tenant (or one for all); its service ran and Result=success"
    timers = _backup_timers(ctx)
    seen: dict[str, str] = {}

    def probe(tenant: Any) -> list[str]:
        names = layout.backup_job_names(tenant.slug) if hasattr(layout, "backup_job_names") else None
        if names:
            timer, service = names["timer"], names["service"]
        else:  # layout without backup names: any timer naming the tenant
            mine = [t for t in timers if tenant.slug in t]
            if not mine:
                return [f"no backup timer (timers: {', '.join(timers) or 'none'})"]
            timer, service = mine[0], mine[0].removesuffix(".timer") + ".service"
        issues = []
        active = ctx.out("systemctl", "is-active", timer).strip() or "inactive"
        out = ctx.out("systemctl", "show", service, "--property=Result", "--property=ExecMainExitTimestamp",
                      "--property=ExecMainStatus")
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        seen[tenant.slug] = f"{timer} {active}; {service} last exit {values.get('ExecMainExitTimestamp') or 'never'}, " \
                            f"Result={values.get('Result')}"
        if active != "active":
            issues.append(f"{timer} {active}")
        if not values.get("ExecMainExitTimestamp"):
            issues.append(f"{service} never ran")
        elif values.get("Result") != "success" or values.get("ExecMainStatus") not in {"0", None}:
            issues.append(f"{service} Result={values.get('Result')} status {values.get('ExecMainStatus')}")
        return issues

    return _per_tenant(ctx, expected, probe, lambda t: seen.get(t.slug, ""))


def _restic(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    # --no-lock and --no-cache: reading the repository leaves no lock in it and no cache on disk.
    return subprocess.run(["restic", "--no-lock", "--no-cache", "--quiet", *args], env=env, capture_output=True,
                          timeout=300, check=False)


@check("backup_repository_restorable", "each tenant's restic repository is encrypted and its latest snapshot can be read back")
def backup_repository_restorable(ctx: CheckContext) -> Finding:
    expected = ("from the auditing machine: a wrong password is refused; the right one lists ≥ 1 snapshot holding the "
                "signing key, which restic can decrypt and read back (`restic dump`, nothing written)")
    if not ctx.tenants:
        return _no_tenants(expected)
    if ctx.secrets is None:
        return Finding("error", expected, "no secrets store given",
                       "not evaluated: pass --secrets (and the vault password) so the audit can open the repositories")
    import os
    import shutil

    if shutil.which("restic") is None:
        return Finding("error", expected, "restic not installed on the auditing machine", "not evaluated: apt-get install restic")
    platform = ctx.plan.platform
    problems, found = [], []
    for tenant in ctx.tenants:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
               "RESTIC_REPOSITORY": tenant.backup_repository,
               "AWS_ACCESS_KEY_ID": ctx.secrets.get(layout.platform_secret_ref("backup_s3_access_key")),
               "AWS_SECRET_ACCESS_KEY": ctx.secrets.get(layout.platform_secret_ref("backup_s3_secret_key")),
               "AWS_DEFAULT_REGION": platform.backup.region}
        wrong = _restic({**env, "RESTIC_PASSWORD": "counselkit-audit-wrong-password"}, "cat", "config")
        if wrong.returncode == 0:
            problems.append(f"{tenant.slug}: repository opens with a wrong password")
        env["RESTIC_PASSWORD"] = ctx.secrets.get(tenant.secrets["restic_password"])
        snapshots = _restic(env, "snapshots", "--json")
        if snapshots.returncode != 0:
            problems.append(f"{tenant.slug}: cannot list snapshots: {snapshots.stderr.decode()[:300]}")
            continue
        listed = json.loads(snapshots.stdout or b"[]")
        if not listed:
            problems.append(f"{tenant.slug}: no snapshot")
            continue
        dump = _restic(env, "dump", "latest", tenant.signing_key_path)
        if dump.returncode != 0 or not dump.stdout:
            problems.append(f"{tenant.slug}: signing key not restorable from latest snapshot: {dump.stderr.decode()[:300]}")
        latest = max(listed, key=lambda s: s.get("time", ""))
        found.append(f"{tenant.slug}: {len(listed)} snapshot(s), latest {latest.get('time', '?')[:19]}, "
                     f"signing key read back ({len(dump.stdout)} bytes, not shown); wrong password refused")
    return verdict(problems, expected, "\n".join(found))


# --- SSH: no root login once admins deploy with sudo (CK-SSH-03) -----------------------------------------------

@check("ssh_root_login_off", "sshd -T: root cannot log in over SSH at all; the deploy logs in as an admin with sudo")
def ssh_root_login_off(ctx: CheckContext) -> Finding:
    expected = f"permitrootlogin no; platform.hosts[{ctx.plan_host.name}].ssh_user one of platform.admins (sudo)"
    config = ctx.sshd
    if config is None:
        return failed(expected, "`sshd -T` failed")
    value = config.get("permitrootlogin", "(unset)")
    found = f"permitrootlogin {value}; the deploy logs in as {ctx.plan_host.ssh_user}"
    if value == "no":
        return passed(expected, found)
    if not ctx.plan_host.sudo:  # flagged, not failed: the plan itself still deploys as root (the bootstrap run)
        return _na(expected, found, f"not applicable while the deploy logs in as {layout.ROOT_USER}: set "
                   f"platform.hosts[{ctx.plan_host.name}].ssh_user to one of platform.admins and deploy once, "
                   "then root SSH login is off (docs/operations.md)")
    return failed(expected, f"{found}, whose plan switches root login off: sshd_config differs from the deploy")
