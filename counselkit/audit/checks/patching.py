"""Checks of security updates."""

from __future__ import annotations

from ..context import CheckContext, Finding, failed, passed, verdict
from .registry import check


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
