"""Base hardening of a Debian 12 host: admins, login defaults, sshd, sysctl, nftables, fail2ban, auditd, journald, updates."""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import deploy, operation
from pyinfra.facts.server import Command
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import apt, files, server, systemd

from counselkit import layout, render, sshauth

from . import commands
from .common import context, directory, in_container, put, put_template, virtualization
from .guard import DeployError

BASE_PACKAGES = [
    "nftables", "auditd", "unattended-upgrades", "apt-listchanges", "systemd-timesyncd", "sudo", "ca-certificates",
    "python3-venv", "curl",
    # password quality (for sudo passwords, should an admin set one), package checksums, rootkit scans (daily timer),
    # SSH brute-force bans (fail2ban reads the journal through python3-systemd)
    "libpam-pwquality", "debsums", "chkrootkit", "fail2ban", "python3-systemd",
    "aide", "aide-common",  # file integrity: baseline built after the deploy, checked daily (dailyaidecheck.timer)
]
# Services a Debian host may bring that nothing here needs; stopped and disabled where present.
UNNEEDED_SERVICES = ["rpcbind", "avahi-daemon", "cups", "exim4", "postfix", "nfs-server", "smbd", "nmbd", "bluetooth"]


@operation()
def security_updates():
    """Install the upgrades that come from the Debian security archive (a fresh image lags behind it)."""
    pending = host.get_fact(Command, layout.PENDING_SECURITY_UPDATES) or ""
    packages = sorted(set(pending.split()))
    if not packages:
        host.noop("no security updates pending")
        return
    yield commands.only_upgrade(packages)


@operation()
def file_integrity_baseline():
    """Start building the first AIDE database in the background, unless it exists or is being built (running or
    queued). A failed earlier build is started again, and its result shows in the deploy's output."""
    unit = shlex.quote(layout.AIDE_INIT_UNIT)
    output = host.get_fact(Command, f"test -e {shlex.quote(layout.AIDE_DB)} && echo present || "
                                    f"systemctl show -p ActiveState -p Result -p Job {unit}") or ""
    state = dict(line.split("=", 1) for line in output.split() if "=" in line)
    if output.strip() == "present":
        host.noop(f"AIDE database {layout.AIDE_DB}: present")
        return
    if state.get("ActiveState") in ("active", "activating") or state.get("Job", "") not in ("", "0"):
        host.noop(f"AIDE database {layout.AIDE_DB}: being built ({state.get('ActiveState')})")
        return
    if state.get("Result", "success") != "success":
        logger.warning(f"{host.name}: the last AIDE baseline build ended with {state['Result']!r} "
                       f"(journalctl -u {layout.AIDE_INIT_UNIT}); starting it again")
    yield f"systemctl start --no-block {unit}"


@operation()
def remove_former_admins(planned: list[str]):
    """Delete every member of layout.ADMIN_GROUP that platform.admins no longer lists: account, home (keys),
    sessions; sudo went with the group membership. The group marks the accounts the deploy manages."""
    line = host.get_fact(Command, f"getent group {shlex.quote(layout.ADMIN_GROUP)} || true") or ""
    members = [m for m in line.strip().split(":", 3)[-1].split(",") if m] if line.count(":") == 3 else []
    former = sorted(set(members) - set(planned) - {"root"})
    if not former:
        host.noop(f"{layout.ADMIN_GROUP} holds only planned admins")
        return
    for user in former:
        yield commands.remove_admin(user)


@deploy("counselkit: file integrity baseline")
def file_integrity() -> None:
    file_integrity_baseline(name="First AIDE database (background, idle priority)")


@deploy("counselkit: apt and proxy")
def apt_setup() -> None:
    ctx = context()
    if ctx["platform"]["proxy"]:
        put_template("base/apt-proxy.conf.j2", layout.APT_PROXY_CONF, mode=layout.PROXY_CONFIG_MODE)
    else:
        files.file(name=f"No apt proxy ({layout.APT_PROXY_CONF})", path=layout.APT_PROXY_CONF, present=False)
    put_template("base/pip.conf.j2", layout.PIP_CONF, mode=layout.PROXY_CONFIG_MODE)
    apt.update(name="apt update (at most hourly)", cache_time=3600)


def reports(ctx: dict) -> None:
    """A send-only MTA for AIDE and unattended-upgrades reports, or none when platform.smtp.reports_to is unset."""
    templates = {name: render.HOST_TEMPLATES[name] for name in ("base/msmtprc.j2", "base/mail-aliases.j2")}
    if not ctx["platform"]["reports"]:
        for dest in templates.values():
            files.file(name=f"No mail relay config ({dest})", path=dest, present=False)
        return
    apt.packages(name="Mail for host reports (msmtp)", packages=list(layout.MAIL_PACKAGES), no_recommends=True)
    directory(name=f"{layout.COUNSELKIT_ETC}", path=layout.COUNSELKIT_ETC, user="root", group="root", mode="755")
    put_template("base/msmtprc.j2", templates["base/msmtprc.j2"], mode="600")
    put_template("base/mail-aliases.j2", templates["base/mail-aliases.j2"])
    # Without MAILCMD the check refuses mail(1) as non-root; msmtp needs no setuid, so mail(1) works as _aide.
    # `#*`, not `#?`: pyinfra matches with grep/sed basic regular expressions, where `?` is a literal.
    files.line(name="AIDE reports by mail(1)", path=layout.AIDE_DEFAULTS, line=r"^#*MAILCMD=.*", replace="MAILCMD=mail")


@deploy("counselkit: base hardening")
def base() -> None:
    ctx = context()
    container = in_container()
    if container:
        logger.warning(f"{host.name}: runs in a container ({virtualization()}): kernel-wide sysctls, auditd and "
                       "time sync are configured but not activated (the container's host kernel owns them)")

    apt.packages(name="Base packages", packages=BASE_PACKAGES, no_recommends=True)

    # --- admins: from platform.admins, keys only, sudo via the admin group
    server.group(name=f"Group {layout.ADMIN_GROUP}", group=layout.ADMIN_GROUP)
    for admin in ctx["platform"]["admins"]:
        server.user(name=f"Admin {admin['name']}", user=admin["name"], shell="/bin/bash", create_home=True,
                    home=layout.admin_home(admin["name"]),
                    groups=[layout.ADMIN_GROUP], public_keys=[admin["ssh_key"]], delete_keys=True)
        # login.defs' HOME_MODE comes later in this deploy (and only applies to new accounts): set the mode here,
        # as deploys through sudo stage their uploads in this directory.
        directory(name=f"Admin {admin['name']}: home private", path=layout.admin_home(admin["name"]),
                  user=admin["name"], group=admin["name"], mode="750")
    remove_former_admins(name=f"Former admins removed (members of {layout.ADMIN_GROUP} not in platform.admins)",
                         planned=[a["name"] for a in ctx["platform"]["admins"]])
    # root: exactly the admins' keys (plus the site's own), never a key left from an earlier admin or an image;
    # refused first if the keys written for the deploy user (root or an admin) would lock out this very deploy.
    # Without sudo: sudo resets the environment, and $SSH_USER_AUTH is the login session's (readable by its user).
    root_keys = ctx["platform"]["root_keys"]
    auth_info = host.get_fact(Command, 'cat "$SSH_USER_AUTH" 2>/dev/null || true', _sudo=False) or ""
    problem = sshauth.lockout_problem(ctx["platform"], auth_info, host.data.get("ssh_user") or sshauth.ROOT, host.name)
    if problem:
        raise DeployError(problem)  # while collecting operations: nothing has run on any host yet
    directory(name=f"{layout.ROOT_SSH_DIR}", path=layout.ROOT_SSH_DIR, mode="700")
    put(f"root's keys ({layout.ROOT_AUTHORIZED_KEYS})", layout.ROOT_AUTHORIZED_KEYS,
        "".join(f"{key}\n" for key in root_keys), mode="600")
    sudoers = put_template("base/sudoers-admins.j2", layout.SUDOERS_ADMINS, mode="440")
    server.shell(name="Check sudoers", commands=[f"visudo -cf {layout.SUDOERS_ADMINS}"], _if=sudoers.did_change)

    # --- login defaults, no core dumps, idle shells closed, unneeded kernel modules off, legal banner
    for template in render.PLAIN_HOST_TEMPLATES:
        put_template(template, render.HOST_TEMPLATES[template])

    # --- sshd
    sshd = put_template("base/sshd_config.j2", layout.SSHD_CONFIG, mode="600")
    server.shell(name="Check sshd config", commands=["sshd -t"], _if=sshd.did_change)
    systemd.service(name="Reload sshd", service="ssh.service", running=True, reloaded=True, _if=sshd.did_change)

    # --- sysctl: network ones always (own netns), kernel-wide ones only where this is the kernel's host
    net = put_template("base/sysctl-net.conf.j2", layout.SYSCTL_NET_FILE)
    kernel = put_template("base/sysctl-kernel.conf.j2", layout.SYSCTL_KERNEL_FILE)
    server.shell(name="Apply network sysctls", commands=[f"sysctl -q -p {layout.SYSCTL_NET_FILE}"], _if=net.did_change)
    if not container:
        server.shell(name="Apply kernel sysctls", commands=[f"sysctl -q -p {layout.SYSCTL_KERNEL_FILE}"],
                     _if=kernel.did_change)

    # --- nftables: default-deny inbound
    nft = put_template("base/nftables.conf.j2", layout.NFTABLES_CONF, mode="755")
    server.shell(name="Check nftables rules", commands=[f"nft -c -f {layout.NFTABLES_CONF}"], _if=nft.did_change)
    systemd.service(name="nftables running", service="nftables.service", running=True, enabled=True)
    systemd.service(name="Reload nftables", service="nftables.service", reloaded=True, _if=nft.did_change)

    # --- fail2ban: SSH brute-force bans
    jail = put_template("base/fail2ban-jail.conf.j2", layout.FAIL2BAN_JAIL)
    systemd.service(name="fail2ban running", service="fail2ban.service", running=True, enabled=True)
    systemd.service(name="Restart fail2ban (jail changed)", service="fail2ban.service", restarted=True,
                    _if=jail.did_change)

    # --- auditd
    rules = put_template("base/audit.rules.j2", layout.AUDIT_RULES, mode="640")
    if container:
        systemd.service(name="auditd off (container: no audit subsystem)", service="auditd.service",
                        running=False, enabled=False)
    else:
        systemd.service(name="auditd running", service="auditd.service", running=True, enabled=True)
        server.shell(name="Load audit rules", commands=["augenrules --load"], _if=rules.did_change)

    # --- journald: persistent
    journald = put_template("base/journald.conf.j2", layout.JOURNALD_DROPIN)
    directory(name="Journal directory", path=layout.JOURNAL_DIR, user="root", group="systemd-journal", mode="2755")
    systemd.service(name="Restart journald", service="systemd-journald.service", restarted=True,
                    _if=journald.did_change)

    # --- file integrity: the unit that builds the first AIDE database (started by deploy/site.py at the very end)
    files.line(name=f"AIDE checksums: {layout.AIDE_CHECKSUMS}", path=layout.AIDE_CONF, line=r"^Checksums\s*=.*",
               replace=f"Checksums = {layout.AIDE_CHECKSUMS}")
    aide_unit = put_template("base/aide-init.service.j2", layout.AIDE_INIT_UNIT_PATH)
    systemd.daemon_reload(name="systemd daemon-reload (AIDE unit changed)", _if=aide_unit.did_change)
    systemd.service(name=f"{layout.AIDE_INIT_UNIT} enabled", service=layout.AIDE_INIT_UNIT, running=None, enabled=True)

    # --- reports by mail (platform.smtp.reports_to): msmtp relays root's mail; AIDE's check (as _aide) uses mail(1)
    reports(ctx)

    # --- security updates: whatever is pending now, then unattended-upgrades daily
    security_updates(name="Pending security updates installed")
    put_template("base/auto-upgrades.j2", layout.APT_AUTO_UPGRADES)
    put_template("base/unattended-upgrades.j2", layout.APT_UNATTENDED_CONF)
    systemd.service(name="unattended-upgrades enabled", service="unattended-upgrades.service", running=True,
                    enabled=True)
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        systemd.service(name=f"{timer} enabled", service=timer, running=True, enabled=True)

    # --- time sync (systemd-timesyncd refuses to run in containers: ConditionVirtualization=!container)
    systemd.service(name="systemd-timesyncd enabled", service="systemd-timesyncd.service",
                    running=None if container else True, enabled=True)

    # --- nothing listening that is not needed
    status = host.get_fact(SystemdStatus) or {}
    for name in UNNEEDED_SERVICES:
        unit = f"{name}.service"
        if unit in status:
            systemd.service(name=f"{unit} stopped and disabled", service=unit, running=False, enabled=False)
