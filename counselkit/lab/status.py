"""What is up right now: per-host and per-service health, as text or a dict."""

from __future__ import annotations

import subprocess

from counselkit.lab import settings, ssh
from counselkit.lab.errors import LabError
from counselkit.lab.processes import is_running
from counselkit.lab.state import LabHost, LabState


def host_status(state: LabState, host: LabHost) -> str:
    """'up (running)', 'up (degraded)', 'up (root login refused)', 'unreachable' or 'down'."""
    nspawn = state.process(f"host:{host.name}")
    if nspawn is None or not is_running(nspawn):
        return "down"
    try:
        result = ssh.run(host, "systemctl is-system-running", timeout=15)
    except (subprocess.TimeoutExpired, LabError):
        return "unreachable"
    answer = result.stdout.strip()
    if not answer and result.returncode != 0 and "Permission denied" in result.stderr:
        # sshd answers and refuses root by key: a deploy as an admin switched root login off (PermitRootLogin no,
        # tests/lab/test_deploy_sudo.py). The host is up; calling it unreachable would make a test session's lab
        # fixture rebuild the whole shared lab.
        return "up (root login refused)"
    return f"up ({answer})" if answer else "unreachable"


def service_status(state: LabState, role: str) -> str:
    proc = state.process(role)
    if proc is None:
        return "not started"
    return f"running, pid {proc.pid}" if is_running(proc) else f"dead (was pid {proc.pid})"


def is_healthy(state: LabState) -> bool:
    if state.phase != "up" or not all(is_running(p) for p in state.processes):
        return False
    return all(host_status(state, h).startswith("up") for h in state.hosts)


def status_dict(state: LabState | None) -> dict[str, object]:
    if state is None:
        return {"up": False}
    return {
        "up": state.phase == "up",
        "phase": state.phase,
        "state_file": str(settings.STATE_FILE),
        "hosts": [
            {"name": h.name, "address": h.address, "control_address": h.control_address,
             "ssh_port": h.ssh_port, "status": host_status(state, h)}
            for h in state.hosts
        ],
        "proxy": {"url": state.proxy_url, "status": service_status(state, "proxy")},
        "s3": {"endpoint": state.s3.endpoint if state.s3 else None,
               "region": state.s3.region if state.s3 else None,
               "status": service_status(state, "s3")},
        "smtp_sink": {"address": f"{state.smtp_sink.host}:{state.smtp_sink.port}" if state.smtp_sink else None,
                      "mail_dir": str(state.smtp_sink.mail_dir) if state.smtp_sink else None,
                      "status": service_status(state, "smtp")},
        "ssh_key": str(settings.SSH_KEY),
        "known_hosts": str(settings.KNOWN_HOSTS),
    }


def format_status(state: LabState | None) -> str:
    if state is None:
        return "lab is down"
    lines = [
        f"lab: {state.phase}, {len(state.hosts)} host(s); state in {settings.STATE_FILE} (root only)",
        f"  {'HOST':<8} {'ADDRESS':<14} {'CONTROL SIDE':<14} STATUS",
    ]
    for h in state.hosts:
        lines.append(f"  {h.name:<8} {h.address:<14} {h.control_address:<14} {host_status(state, h)}")
    lines.append(f"  proxy: {state.proxy_url} ({service_status(state, 'proxy')})")
    if state.s3:
        lines.append(f"  s3:    {state.s3.endpoint} region {state.s3.region} "
                     f"({service_status(state, 's3')}); credentials in the state file")
    if state.smtp_sink:
        lines.append(f"  smtp:  {state.smtp_sink.host}:{state.smtp_sink.port} sink, messages in "
                     f"{state.smtp_sink.mail_dir} ({service_status(state, 'smtp')})")
    else:
        lines.append(f"  smtp:  sink {service_status(state, 'smtp')} (lab brought up before the sink existed)")
    lines.append(f"  ssh:   counselkit lab ssh HOST   (key {settings.SSH_KEY}, "
                 f"known_hosts {settings.KNOWN_HOSTS})")
    return "\n".join(lines)
