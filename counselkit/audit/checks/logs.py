"""Checks of logging, the kernel audit subsystem and time."""

from __future__ import annotations

from ..context import CheckContext, Finding, failed, passed
from .registry import check, na


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
        return na(expected, found, f"not applicable: container ({ctx.container}); the kernel audit subsystem belongs "
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
        return na(expected, found, f"not applicable: container ({ctx.container}); the clock is the host kernel's and "
                                    "time sync services skip containers (ConditionVirtualization=!container). "
                                    "A time sync service is enabled for a real host.")
    return failed(expected, found)
