"""Base hardening of a Debian 12 host as a component spec (deploy/base.py and roles/hardening loop over it).

Two components, run in this order by both engines: ``apt_setup`` (proxy for apt and pip, then apt update: every
later package install needs it, the other roles include it with ``tasks_from: apt``) and ``hardening`` (admins'
group, login defaults, sshd, sysctl, nftables, fail2ban, auditd, journald, AIDE, report mail, unattended upgrades,
time sync). What is not a list — admins and root's keys from platform.admins, the lock-out check, removing former
admins, pending security updates — stays code in each engine, reading its names from counselkit.layout.
"""

from __future__ import annotations

import posixpath
from typing import Any

from counselkit import layout, policy, render

from . import HOST_KERNEL, NET_ADMIN, Component, Directory, File, Handler, Line, Service

PACKAGES = (
    "nftables", "auditd", "unattended-upgrades", "apt-listchanges", "systemd-timesyncd", "sudo", "ca-certificates",
    "python3-venv", "curl",
    # password quality (for sudo passwords, should an admin set one), package checksums, rootkit scans (daily timer),
    # SSH brute-force bans (fail2ban reads the journal through python3-systemd)
    "libpam-pwquality", "debsums", "chkrootkit", "fail2ban", "python3-systemd",
    "aide", "aide-common",  # file integrity: baseline built after the deploy, checked daily (dailyaidecheck.timer)
)
# Services a Debian host may bring that nothing here needs; stopped and disabled where present.
UNWANTED_SERVICES = ("rpcbind.service", "avahi-daemon.service", "cups.service", "exim4.service", "postfix.service",
                     "nfs-server.service", "smbd.service", "nmbd.service", "bluetooth.service")
APT_CACHE_VALID_TIME = 3600  # apt update when the package lists are older than this (seconds)

RELOAD_SSHD = "Reload sshd"
APPLY_NET_SYSCTLS = "Apply network sysctls"
APPLY_KERNEL_SYSCTLS = "Apply kernel sysctls"
RELOAD_NFTABLES = "Reload nftables"
RESTART_FAIL2BAN = "Restart fail2ban"
LOAD_AUDIT_RULES = "Load audit rules"
RESTART_JOURNALD = "Restart journald"
RELOAD_SYSTEMD = "Reload systemd units"

HANDLERS = (
    Handler(RELOAD_SSHD, unit="ssh.service", action="reloaded"),
    Handler(APPLY_NET_SYSCTLS, argv=("sysctl", "-q", "-p", layout.SYSCTL_NET_FILE), needs=NET_ADMIN),
    Handler(APPLY_KERNEL_SYSCTLS, argv=("sysctl", "-q", "-p", layout.SYSCTL_KERNEL_FILE), needs=HOST_KERNEL),
    Handler(RELOAD_NFTABLES, unit="nftables.service", action="reloaded", needs=NET_ADMIN),
    Handler(RESTART_FAIL2BAN, unit="fail2ban.service", action="restarted"),
    Handler(LOAD_AUDIT_RULES, argv=("augenrules", "--load"), needs=HOST_KERNEL),
    Handler(RESTART_JOURNALD, unit="systemd-journald.service", action="restarted"),
    Handler(RELOAD_SYSTEMD, daemon_reload=True),
)

# template -> how its file is installed (destination: counselkit.render.HOST_TEMPLATES), in deploy order
_FILES: dict[str, dict[str, Any]] = {
    "base/sudoers-admins.j2": {"mode": "0440", "validate": "visudo -cf %s"},
    **{name: {} for name in render.PLAIN_HOST_TEMPLATES},
    "base/sshd_config.j2": {"mode": "0600", "validate": "/usr/sbin/sshd -t -f %s", "handler": RELOAD_SSHD},
    "base/sysctl-net.conf.j2": {"handler": APPLY_NET_SYSCTLS},
    "base/sysctl-kernel.conf.j2": {"handler": APPLY_KERNEL_SYSCTLS},
    "base/nftables.conf.j2": {"mode": "0755", "validate": "nft -c -f %s", "validate_needs": NET_ADMIN,
                              "handler": RELOAD_NFTABLES},
    "base/fail2ban-jail.conf.j2": {"handler": RESTART_FAIL2BAN},
    "base/audit.rules.j2": {"mode": "0640", "handler": LOAD_AUDIT_RULES},
    "base/journald.conf.j2": {"handler": RESTART_JOURNALD},
    "base/aide-init.service.j2": {"handler": RELOAD_SYSTEMD},
    "base/msmtprc.j2": {"mode": "0600", "sensitive": True},  # the relay password
    "base/mail-aliases.j2": {},
    "base/auto-upgrades.j2": {},
    "base/unattended-upgrades.j2": {},
}
# platform.proxy may carry credentials (user:password@host): root reads them, nobody sees them
_APT_FILES: dict[str, dict[str, Any]] = {
    "base/apt-proxy.conf.j2": {"mode": layout.PROXY_CONFIG_MODE, "sensitive": True},
    "base/pip.conf.j2": {"mode": layout.PROXY_CONFIG_MODE, "sensitive": True},
}

SERVICES = (
    Service("nftables.service", running_needs=NET_ADMIN),
    Service("fail2ban.service"),
    Service("auditd.service", running_needs=HOST_KERNEL, off_without=True),  # a container has no audit subsystem
    Service(layout.AIDE_INIT_UNIT, running=None),  # started last, by file_integrity() / tasks/aide_baseline.yml
    Service("unattended-upgrades.service"),
    Service("apt-daily.timer"),
    Service("apt-daily-upgrade.timer"),
    # systemd-timesyncd refuses to run in containers (ConditionVirtualization=!container)
    Service("systemd-timesyncd.service", running_needs=HOST_KERNEL),
)


def _files(table: dict[str, dict[str, Any]], wanted: dict[str, str]) -> tuple[File, ...]:
    return tuple(File(template=name, dest=wanted[name], **options) for name, options in table.items() if name in wanted)


def _absent(table: dict[str, dict[str, Any]], wanted: dict[str, str]) -> tuple[str, ...]:
    return tuple(render.HOST_TEMPLATES[name] for name in table if name not in wanted)


def apt_setup(vars: dict[str, Any]) -> Component:
    """apt proxy (only with platform.proxy) and pip.conf; the engines then update the package lists."""
    wanted = render.wanted_host_templates(vars)
    return Component(name="apt", files=_files(_APT_FILES, wanted), absent=_absent(_APT_FILES, wanted),
                     layout={"apt_cache_valid_time": APT_CACHE_VALID_TIME})


def hardening(vars: dict[str, Any]) -> Component:
    """The base hardening of one host (vars: counselkit.render.host_vars of it)."""
    wanted = render.wanted_host_templates(vars)  # the platform's conditions, decided here and only here
    reports = "base/msmtprc.j2" in wanted
    plain_parents = sorted({posixpath.dirname(render.HOST_TEMPLATES[name]) for name in render.PLAIN_HOST_TEMPLATES})
    # Parents a minimal image may lack (root 0755, as pyinfra's mkdir -p makes them)
    directories = [Directory(layout.ROOT_SSH_DIR, mode="0700"),
                   *(Directory(path) for path in plain_parents),
                   Directory(posixpath.dirname(layout.JOURNALD_DROPIN)),
                   Directory(layout.JOURNAL_DIR, group="systemd-journal", mode="2755")]
    lines = [Line(layout.AIDE_CONF, r"^Checksums\s*=.*", f"Checksums = {policy.AIDE_CHECKSUMS}")]
    secrets: list[str] = []
    if reports:
        directories.append(Directory(layout.COUNSELKIT_ETC))
        # Without MAILCMD the check refuses mail(1) as non-root; msmtp needs no setuid, so mail(1) works as _aide.
        lines.append(Line(layout.AIDE_DEFAULTS, r"^#*MAILCMD=.*", "MAILCMD=mail"))
        if vars["platform"]["reports"]["password_ref"]:
            secrets.append(vars["platform"]["reports"]["password_ref"])
    return Component(
        name="hardening",
        packages=PACKAGES + (layout.MAIL_PACKAGES if reports else ()),
        groups=(layout.ADMIN_GROUP,),
        directories=tuple(directories),
        files=_files(_FILES, wanted),
        absent=_absent(_FILES, wanted),
        lines=tuple(lines),
        handlers=HANDLERS,
        services=SERVICES,
        unwanted_services=UNWANTED_SERVICES,
        secrets=tuple(secrets),
    )


def components(vars: dict[str, Any]) -> dict[str, Component]:
    """Every base component of a host, by name (the Ansible hostvar ``counselkit_components``)."""
    return {c.name: c for c in (apt_setup(vars), hardening(vars))}
