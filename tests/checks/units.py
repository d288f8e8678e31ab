"""The deployed units of one host, from the outside: exposure rating, still running, limits, egress.

Used by tests/lab/test_audit_lab.py on the deployed example host; each function takes `sh(command) -> stdout`
(a command that must succeed) and the plan, and returns the problems found (empty = all well).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from types import SimpleNamespace
from urllib.parse import urlsplit

from counselkit import layout
from counselkit.audit.checks import UNIT_EXPOSURE_MAX, counselkit_units, exposure_problems, exposure_scores
from counselkit.backup.jobs import host_jobs
from counselkit.plan import Plan

Sh = Callable[[str], str]
# Opens a TCP connection and prints what happened; run as the account under test.
_CONNECT = ("import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.settimeout(5)\n"
            "try:\n    s.connect((sys.argv[1], int(sys.argv[2]))); print('connected')\n"
            "except OSError as e:\n    print('blocked', e.errno)\n")


def installed_units(sh: Sh, plan: Plan, host: str) -> list[str]:
    node = plan.host(host)
    planned = counselkit_units(SimpleNamespace(plan=plan, plan_host=node, tenants=node.tenants))
    out = sh("systemctl show --property=Id --property=LoadState " + " ".join(planned))
    states = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line) for block in out.split("\n\n")]
    return [s["Id"] for s in states if s.get("LoadState") == "loaded"]


def scores(sh: Sh, units: list[str]) -> dict[str, float]:
    return exposure_scores(sh("systemd-analyze security --no-pager " + " ".join(units)))


def exposure(sh: Sh, plan: Plan, host: str) -> tuple[dict[str, float], list[str]]:
    units = installed_units(sh, plan, host)
    found = scores(sh, units)
    return found, exposure_problems(found, units, UNIT_EXPOSURE_MAX)


def services_work(sh: Sh, plan: Plan, host: str) -> list[str]:
    """Synapse answers, the backups ran (dump + S3) and the AIDE baseline was built — inside their sandboxes."""
    problems = []
    for tenant in plan.host(host).tenants:
        status = sh(f"python3 -c {shlex.quote('import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).status)')} "
                    f"http://127.0.0.1:{tenant.synapse_port}/_matrix/client/versions || true").strip()
        if status != "200":
            problems.append(f"{tenant.unit}: /_matrix/client/versions → {status or 'no answer'}")
    for job in host_jobs(plan, host):
        sh(f"systemctl start --wait {job.names['service']} || true")
        result = json.loads(sh(f"cat {job.names['status_file']} 2>/dev/null || echo '{{}}'") or "{}")
        if not result.get("ok"):
            problems.append(f"{job.names['service']}: last run {result or 'missing'}")
    problem = aide_baseline_problem(sh)
    if problem:
        problems.append(problem)
    return problems


def aide_baseline_problem(sh: Sh, minutes: int = 20) -> str | None:
    """None once the first AIDE database is built; else what the baseline unit shows. The baseline runs in the
    background after the deploy, at idle priority: wait while its start job is queued or it runs."""
    unit = shlex.quote(layout.AIDE_INIT_UNIT)
    state = sh(f"for i in $(seq {minutes * 12}); do "
               f"case \"$(systemctl show -p ActiveState --value {unit})$(systemctl show -p Job --value {unit})\" in "
               f"inactive|failed) break;; esac; sleep 5; done; "
               f"systemctl show -p ActiveState -p Result -p ExecMainStatus {unit}; "
               f"test -s {shlex.quote(layout.AIDE_DB)} && echo db=ok; "
               f"journalctl -u {unit} -n 5 --no-pager -o cat 2>/dev/null || true")
    if "Result=success" in state and "db=ok" in state:
        return None
    return f"{layout.AIDE_INIT_UNIT}: {' '.join(state.split())}"


def limits_applied(sh: Sh, plan: Plan, host: str) -> list[str]:
    problems = []
    for tenant in plan.host(host).tenants:
        limits = tenant.tenant.limits
        wanted = {"MemoryHigh": str(limits.memory_high_mb * 1024 * 1024), "MemoryMax": str(limits.memory_max_mb * 1024 * 1024),
                  "CPUWeight": str(limits.cpu_weight), "TasksMax": str(limits.tasks_max),
                  "LimitNOFILE": str(limits.open_files)}
        out = sh(f"systemctl show {tenant.unit} " + " ".join(f"--property={k}" for k in wanted))
        found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        problems += [f"{tenant.unit}: {k}={found.get(k)} (planned {v})" for k, v in wanted.items() if found.get(k) != v]
    return problems


def connect_as(sh: Sh, user: str, address: str, port: int, group: str | None = None) -> str:
    """'connected' or 'blocked <errno>' for a TCP connection opened by `user` (with primary `group`)."""
    switch = "" if user == "root" and group is None else \
        f"setpriv --reuid={user} --regid={group or user} --clear-groups "
    return sh(f"{switch}python3 -c {shlex.quote(_CONNECT)} {address} {port}").strip()


def egress_confined(sh: Sh, plan: Plan, host: str, outside: str) -> list[str]:
    """Each tenant's Synapse user reaches loopback (PostgreSQL) and, without federation, nothing else; root, as a
    control, reaches `outside` (a URL of a server beyond the host: the lab's proxy)."""
    target = urlsplit(outside)
    address, port = target.hostname or "", target.port or 80
    problems = []
    if connect_as(sh, "root", address, port) != "connected":
        problems.append(f"root cannot reach {address}:{port} either: the probe proves nothing")
    for tenant in plan.host(host).tenants:
        loopback = connect_as(sh, tenant.unix_user, layout.POSTGRES_HOST, layout.POSTGRES_PORT)
        if loopback != "connected":
            problems.append(f"{tenant.unix_user} → PostgreSQL on loopback: {loopback}")
        out = connect_as(sh, tenant.unix_user, address, port)
        if not tenant.tenant.federation and out == "connected":
            problems.append(f"{tenant.unix_user} (no federation) reached {address}:{port}")
    # The backup jobs (root, group BACKUP_GROUP): the proxy's port is theirs; the same address's SSH port is not.
    if host_jobs(plan, host):
        if connect_as(sh, "root", address, port, layout.BACKUP_GROUP) != "connected":
            problems.append(f"a backup job cannot reach the proxy {address}:{port}")
        if connect_as(sh, "root", address, 22, layout.BACKUP_GROUP) == "connected":
            problems.append(f"a backup job reached {address}:22")
    return problems
