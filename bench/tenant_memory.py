"""Idle memory of each tenant on lab hosts: PSS of all the tenant's processes, against the per-tenant budget.

    .venv/bin/python bench/tenant_memory.py                 # every lab host that carries tenants
    .venv/bin/python bench/tenant_memory.py --host node1    # one host
    .venv/bin/python bench/tenant_memory.py --json          # the raw figures as JSON (for docs/memory.md)
    .venv/bin/python bench/tenant_memory.py --save before.json            # print, and keep the figures
    .venv/bin/python bench/tenant_memory.py --compare before.json         # print, then before/after per tenant

Every run prints one row per process (PSS and RSS) under its tenant's row.

A tenant's processes (issue 15 point 1): every process in its Synapse unit's cgroup, plus the PostgreSQL backends
connected as the tenant's database role (pg_stat_activity.usename -> pid). PSS (proportional set size, from
/proc/<pid>/smaps_rollup) divides each shared page by the number of processes mapping it, so the sum over all
processes of a host is the host's real use and no page is counted twice. "Private" and "Shared" are the
process's resident pages mapped by it alone / by others too (smaps_rollup Private_* and Shared_*).
The PostgreSQL server's own processes (postmaster, checkpointer, ...) serve every tenant and are shown apart.
The lab is shared: this only reads /proc and pg_stat_activity on the host.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUDGET_MIB = 100  # issue 15 point 1: PSS of all of an idle tenant's processes
KIB_PER_MIB = 1024

# Runs on the lab host as root (python3 of Debian 12): reads the JSON list of tenants from argv[1], prints JSON.
REMOTE = r'''
import json, os, subprocess, sys

FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty")

def rollup(pid):
    """smaps_rollup of one process in KiB; None if it exited meanwhile."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines[1:]:
        key, _, rest = line.partition(":")
        if key in FIELDS:
            out[key] = int(rest.split()[0])
    return out

def cgroup_pids(unit):
    cg = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", unit],
                        capture_output=True, text=True).stdout.strip()
    if not cg:
        return []
    # /proc/<pid>/cgroup, not /sys/fs/cgroup: works on cgroup v2 and on the hybrid layout of nspawn containers
    # (unified hierarchy or systemd's name=systemd one); sub-cgroups of the unit count too.
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                paths = [line.rstrip("\n").split(":", 2)[2] for line in f]
        except (OSError, IndexError):
            continue
        if any(p == cg or p.startswith(cg + "/") for p in paths):
            pids.append(int(entry))
    return sorted(pids)

def pg_backends():
    """usename -> pids of client backends; '' for the server's own processes."""
    sql = "SELECT coalesce(usename, ''), pid, backend_type FROM pg_stat_activity"
    res = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-XAtF", "\t", "-c", sql],
                         capture_output=True, text=True, cwd="/")
    if res.returncode:
        sys.exit(f"pg_stat_activity: {res.stderr.strip()}")
    roles = {}
    for line in res.stdout.splitlines():
        user, pid, kind = line.split("\t")
        roles.setdefault(user if kind == "client backend" else "", []).append(int(pid))
    return roles

def postmaster():
    res = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-XAtc", "SELECT pg_backend_pid()"],
                         capture_output=True, text=True, cwd="/")
    try:
        with open(f"/proc/{int(res.stdout.strip())}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None

def name(pid):
    """The process's command name (comm), so that the per-process rows say what each process is."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"

def rollups(pids):
    out = {}
    for p in pids:
        r = rollup(p)
        if r is not None:
            r["name"] = name(p)
            out[str(p)] = r
    return out

tenants = json.loads(sys.argv[1])
roles = pg_backends()
server = roles.get("", []) + [p for p in [postmaster()] if p]
result = {"tenants": {}, "postgres_server": rollups(sorted(set(server)))}
for t in tenants:
    result["tenants"][t["slug"]] = {"synapse": rollups(cgroup_pids(t["unit"])), "pg": rollups(roles.get(t["db_user"], []))}
print(json.dumps(result))
'''


def measure(host_state, tenants: list[dict[str, str]]) -> dict:
    """Run REMOTE on the host over the lab's SSH (strict host keys, lab routes only)."""
    from counselkit.lab import ssh

    # ssh joins the remote argv into one shell command line: quote each word
    remote = ["python3", "-c", REMOTE, json.dumps(tenants)]
    argv = ssh.ssh_argv(host_state, [shlex.join(remote)])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    if done.returncode:
        raise SystemExit(f"{host_state.name}: measuring failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def total(rollups: dict[str, dict[str, int]], *keys: str) -> float:
    """Sum of fields over processes, in MiB."""
    return sum(int(r.get(k, 0)) for r in rollups.values() for k in keys) / KIB_PER_MIB


def process_rows(kind: str, rollups: dict[str, dict[str, int]]) -> list[str]:
    """One line per process: what it is, its PSS, RSS and private memory in MiB."""
    rows = []
    for pid, r in sorted(rollups.items(), key=lambda item: int(item[0])):
        one = {pid: r}
        rows.append(f"      {kind:<9} {pid:>8} {str(r.get('name', '?')):<16} PSS {total(one, 'Pss'):>6.1f}  "
                    f"RSS {total(one, 'Rss'):>6.1f}  private {total(one, 'Private_Clean', 'Private_Dirty'):>6.1f}")
    return rows


def tenant_totals(figures: dict) -> dict[str, dict[str, float]]:
    """Per tenant: Synapse PSS and RSS, PostgreSQL backends (count, PSS, RSS) and the PSS total, in MiB."""
    out = {}
    for slug, t in figures["tenants"].items():
        syn, pg = t["synapse"], t["pg"]
        out[slug] = {"syn_pss": total(syn, "Pss"), "syn_rss": total(syn, "Rss"), "pg_n": float(len(pg)),
                     "pg_pss": total(pg, "Pss"), "pg_rss": total(pg, "Rss"),
                     "total": total(syn, "Pss") + total(pg, "Pss")}
    return out


def compare(before: dict[str, dict], after: dict[str, dict]) -> None:
    """Before/after per tenant of every host measured in both runs (a tenant missing from one run is skipped)."""
    print(f"before/after (MiB; budget {BUDGET_MIB} MiB PSS per idle tenant)")
    print(f"  {'host':<6} {'tenant':<20} {'Syn PSS':>15} {'Syn RSS':>15} {'PG n':>7} {'PG PSS':>13} {'total PSS':>15}")
    for host in sorted(set(before) & set(after)):
        old, new = tenant_totals(before[host]), tenant_totals(after[host])
        for slug in sorted(set(old) & set(new)):
            o, n = old[slug], new[slug]
            print(f"  {host:<6} {slug:<20} {o['syn_pss']:>6.1f} → {n['syn_pss']:>6.1f} {o['syn_rss']:>6.1f} → "
                  f"{n['syn_rss']:>6.1f} {o['pg_n']:>2.0f} → {n['pg_n']:>2.0f} {o['pg_pss']:>5.1f} → {n['pg_pss']:>5.1f} "
                  f"{o['total']:>6.1f} → {n['total']:>6.1f}  ({n['total'] - o['total']:+.1f})")


def report(host: str, figures: dict) -> float:
    """Print one host's table; returns the host's tenant PSS total in MiB."""
    print(f"tenant memory on {host} (PSS from /proc/<pid>/smaps_rollup, MiB; budget {BUDGET_MIB} MiB per idle tenant)")
    print(f"  {'tenant':<20} {'procs':>5} {'Syn PSS':>8} {'Private':>8} {'Shared':>7} {'PG n':>5} {'PG PSS':>7} "
          f"{'total':>7}  verdict")
    host_total = 0.0
    for slug, t in figures["tenants"].items():
        syn, pg = t["synapse"], t["pg"]
        syn_pss, pg_pss = total(syn, "Pss"), total(pg, "Pss")
        tenant_total = syn_pss + pg_pss
        host_total += tenant_total
        verdict = "within" if tenant_total <= BUDGET_MIB else f"over by {tenant_total - BUDGET_MIB:.1f}"
        print(f"  {slug:<20} {len(syn):>5} {syn_pss:>8.1f} {total(syn, 'Private_Clean', 'Private_Dirty'):>8.1f} "
              f"{total(syn, 'Shared_Clean', 'Shared_Dirty'):>7.1f} {len(pg):>5} {pg_pss:>7.1f} {tenant_total:>7.1f}  {verdict}")
        for line in process_rows("synapse", syn) + process_rows("postgres", pg):
            print(line)
    server = figures["postgres_server"]
    n = len(figures["tenants"]) or 1
    print(f"  host total of {len(figures['tenants'])} tenants: {host_total:.1f} MiB "
          f"(mean {host_total / n:.1f} MiB per tenant)")
    print(f"  PostgreSQL server processes (shared by all tenants, not in the rows): {len(server)} procs, "
          f"{total(server, 'Pss'):.1f} MiB PSS")
    return host_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", action="append", help="lab host (repeatable; default: every host with tenants)")
    parser.add_argument("--json", action="store_true", help="print the raw smaps_rollup figures as JSON")
    parser.add_argument("--save", type=Path, help="also write this run's raw figures to this JSON file")
    parser.add_argument("--compare", type=Path, help="a file written by --save: print before/after per tenant")
    parser.add_argument("--file", default=None, help="tenants.yaml (default: $COUNSELKIT_TENANTS or the example)")
    args = parser.parse_args()

    from counselkit.backup.remote import lab_site
    from counselkit.plan import load_plan
    from tests.support import EXAMPLE

    site, state = lab_site()
    plan = load_plan(Path(args.file or os.environ.get("COUNSELKIT_TENANTS", EXAMPLE)), site=site)
    by_host: dict[str, list[dict[str, str]]] = {}
    for t in plan.tenants():
        by_host.setdefault(t.host, []).append({"slug": t.slug, "unit": t.unit, "db_user": t.db_user})
    hosts = args.host or sorted(by_host)
    grand = 0.0
    run: dict[str, dict] = {}
    for name in hosts:
        figures = run[name] = measure(state.host(name), by_host.get(name, []))
        if args.json:
            print(json.dumps({name: figures}))
            continue
        grand += report(name, figures)
    if not args.json and len(hosts) > 1:
        print(f"all hosts: {grand:.1f} MiB PSS of tenants")
    if args.save:
        args.save.write_text(json.dumps(run), encoding="utf-8")
    if args.compare:
        compare(json.loads(args.compare.read_text(encoding="utf-8")), run)


if __name__ == "__main__":
    main()
