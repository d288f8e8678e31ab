"""RPO and restore time of one tenant with 1,000 messages.

    .venv/bin/python bench/backup_rpo.py            # local: restic + PostgreSQL + moto on this machine (root)
    .venv/bin/python bench/backup_rpo.py --lab      # the lab: a deployed tenant's real Synapse (see docs/backup.md)

RPO (worst case) = the schedule's interval + the timer's RandomizedDelaySec (each run may start that much later
than its calendar time, so two runs can be interval + delay apart) + the wait for the host's other jobs (they
run one after another under the host lock; estimated as their number times this job's measured duration) + the
backup's duration: data written just after a run starts is only in the next run's snapshot. Restore time = `counselkit-backup restore` for the tenant (staging, database,
media, signing key, Synapse restart) — in the lab measured until the Matrix API serves the messages again.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MESSAGES = 1000


def interval_hours(schedule: str) -> float:
    """Interval of the OnCalendar expression, from systemd-analyze when available (fallback: daily)."""
    try:
        out = subprocess.run(["systemd-analyze", "calendar", "--iterations=2", schedule], capture_output=True, text=True, timeout=10).stdout
        stamps = [line.split(":", 1)[1].strip() for line in out.splitlines() if "Next elapse" in line or line.strip().startswith("Iter. #2")]
        if len(stamps) == 2:
            from datetime import datetime
            parsed = [datetime.strptime(" ".join(s.split()[1:3]), "%Y-%m-%d %H:%M:%S") for s in stamps]
            return (parsed[1] - parsed[0]).total_seconds() / 3600
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    return 24.0


def timespan_seconds(span: str) -> float:
    """A systemd time span (e.g. RandomizedDelaySec=15min) in seconds, as systemd-analyze reads it."""
    out = subprocess.run(["systemd-analyze", "timespan", span], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        if line.strip().startswith("μs:"):
            return int(line.split(":", 1)[1]) / 1e6
    raise SystemExit(f"systemd-analyze could not read the time span {span!r}")


def report(where: str, schedule: str, backup_s: float, restore_s: float, other_jobs: int, extra: str) -> None:
    from counselkit.backup.render import RANDOMIZED_DELAY

    hours = interval_hours(schedule)
    delay_s = timespan_seconds(RANDOMIZED_DELAY)
    queue_s = other_jobs * backup_s  # estimate: the other jobs of the host, each as long as this one
    worst_s = hours * 3600 + delay_s + queue_s + backup_s
    print(f"backup RPO benchmark ({where}), tenant with {MESSAGES} messages")
    print(f"  schedule               {schedule} (every {hours:g} h)")
    print(f"  timer random delay     up to {delay_s:.0f} s (RandomizedDelaySec={RANDOMIZED_DELAY})")
    print(f"  backup duration        {backup_s:.1f} s (dump + restic backup + forget --prune)")
    print(f"  host queue             up to {queue_s:.0f} s ({other_jobs} other job(s) on the host run first under the host "
          "lock; estimated at this job's duration each)")
    print(f"  RPO worst case         {hours:g} h + {delay_s:.0f} s + {queue_s:.0f} s + {backup_s:.0f} s = {worst_s / 3600:.2f} h")
    print(f"  restore time (RTO)     {restore_s:.1f} s (from a destroyed database, checked gone before the restore)")
    print(f"  {extra}")


def local() -> None:
    from counselkit.backup.render import Credentials
    from counselkit.backup.s3 import provision
    from counselkit.plan import load_plan
    from tests.integration.harness import install
    from tests.integration.servers import moto_server, postgres_cluster, postgres_missing
    from tests.support import example_data, write_yaml

    reason = postgres_missing()
    if reason:
        raise SystemExit(f"cannot run locally: {reason}")
    creds = Credentials("AKIABENCH00000000001", "bench-secret-key-0123456789")
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint, postgres_cluster() as pg:
        root = Path(tmp)
        data = example_data()
        data["platform"]["backup"].update({"s3_endpoint": endpoint, "bucket": "ck-bench"})
        plan = load_plan(write_yaml(root / "tenants.yaml", data))
        provision(plan.platform.backup, creds)
        slug = "skf-husum"
        db = plan.tenant(slug).db_name
        pg.psql(f"CREATE ROLE {db} LOGIN")
        pg.psql(f"CREATE DATABASE {db} OWNER {db} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
        # Synapse-like: one event_json row of about 600 bytes per message, plus indexes
        pg.psql("CREATE TABLE event_json (event_id text PRIMARY KEY, room_id text, json text)", db)
        pg.psql(f"INSERT INTO event_json SELECT '$' || md5(i::text), '!room:{slug}', "
                "json_build_object('type', 'm.room.message', 'content', json_build_object('body', repeat(md5(i::text), 16)))::text "
                f"FROM generate_series(1, {MESSAGES}) i", db)
        job = install(plan, slug, root / "host", pg, creds, uuid.uuid4().hex)
        job.media_dir.mkdir(parents=True)
        for i in range(20):
            (job.media_dir / f"m{i}").write_bytes(os.urandom(50_000))
        job.signing_key.parent.mkdir(parents=True)
        job.signing_key.write_text("ed25519 a_bench key\n")
        t0 = time.monotonic()
        result = job.run("run", slug)
        backup_s = time.monotonic() - t0
        if result.returncode:
            raise SystemExit(result.stderr)
        pg.psql(f"DROP DATABASE {db}")
        if pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{db}'") != "0":
            raise SystemExit(f"destroy step failed: database {db} still exists, the restore would prove nothing")
        t0 = time.monotonic()
        result = job.run("restore", slug, "latest")
        restore_s = time.monotonic() - t0
        if result.returncode:
            raise SystemExit(result.stderr)
        count = pg.psql("SELECT count(*) FROM event_json", db)
        from counselkit.backup.jobs import host_jobs

        report("local: restic 0.14 + PostgreSQL 15 + moto on loopback, synthetic Synapse-like table + 1 MB media",
               plan.platform.backup.schedule, backup_s, restore_s, len(host_jobs(plan, plan.tenant(slug).host)) - 1,
               f"restored rows: {count} of {MESSAGES}")
        if count != str(MESSAGES):
            raise SystemExit(f"restore incomplete: {count} of {MESSAGES} rows")


def lab() -> None:
    from click.testing import CliRunner

    from counselkit.backup.commands import backup
    from counselkit.backup.drill import matrix
    from counselkit.backup.remote import lab_site
    from counselkit.lab import ssh
    from counselkit.plan import load_plan
    from counselkit.secrets import SecretStore
    from tests.support import EXAMPLE

    tenants = Path(os.environ.get("COUNSELKIT_TENANTS", EXAMPLE))
    site, state = lab_site()
    plan = load_plan(tenants, site=site)
    store = SecretStore.open(tenants)
    tenant = plan.tenant("skf-husum")
    argv = [*ssh.ssh_argv(state.host(tenant.host)), "--"]
    base = f"http://127.0.0.1:{tenant.synapse_port}"
    texts = [f"bench message {i:04d}" for i in range(MESSAGES)]
    seeded = matrix(argv, {"base": base, "action": "seed", "user": f"bench{uuid.uuid4().hex[:8]}", "password": uuid.uuid4().hex,
                           "shared_secret": store.get(tenant.secrets["registration_shared_secret"]), "texts": texts})
    runner = CliRunner()
    t0 = time.monotonic()
    ran = runner.invoke(backup, ["run", tenant.slug, "--file", str(tenants), "--lab"])
    backup_s = time.monotonic() - t0
    if ran.exit_code:
        raise SystemExit(ran.output)
    host = state.host(tenant.host)
    destroyed = ssh.run(host, f"systemctl stop {tenant.unit} && cd / && runuser -u postgres -- dropdb {tenant.db_name}")
    gone = ssh.run(host, "cd / && runuser -u postgres -- psql -XAtc \"SELECT count(*) FROM pg_database WHERE datname = "
                         f"'{tenant.db_name}'\"")
    if destroyed.returncode != 0 or gone.stdout.strip() != "0":
        raise SystemExit(f"destroy step failed (rc {destroyed.returncode}, database still there: {gone.stdout.strip()}): "
                         f"{destroyed.stderr[-500:]} — the restore would prove nothing")
    t0 = time.monotonic()
    restored = runner.invoke(backup, ["restore", tenant.slug, "--file", str(tenants), "--lab"])
    if restored.exit_code:
        raise SystemExit(restored.output)
    after = matrix(argv, {"base": base, "action": "read", "token": seeded["token"], "room": seeded["room"], "wait": 300})
    restore_s = time.monotonic() - t0
    from counselkit.backup.jobs import host_jobs

    report(f"lab: real Synapse on {tenant.host}", plan.platform.backup.schedule, backup_s, restore_s,
           len(host_jobs(plan, tenant.host)) - 1, f"messages readable after restore: {len(after.get('texts') or [])} of {MESSAGES} (seeding took {seeded['send_seconds']:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="store_true", help="use the running lab and a deployed tenant")
    lab() if parser.parse_args().lab else local()
