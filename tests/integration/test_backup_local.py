"""The real host-side backup script with restic, PostgreSQL and an S3 server (moto) on this machine.

Backs up a tenant-like database, media store and signing key, checks the bucket holds no plaintext, the
status report (fresh, then stale with a later clock), the overlap lock, retention, destroy + restore.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest

from counselkit.backup import status as st
from counselkit.backup.jobs import tenant_job
from counselkit.backup.render import Credentials
from counselkit.backup.s3 import provision
from counselkit.plan import load_plan
from tests.integration.harness import install
from tests.support import example_data, write_yaml

pytestmark = pytest.mark.slow

SLUG, OTHER = "awo-kiel", "diakonie-luebeck"
SECRET_TEXT = "Vertraulich-Beratungsnachricht-7f3a9c"
CREDS = Credentials("AKIALOCALTEST0000001", "local/secret+key=for-moto-only-0123456789")
THIRD, PLATFORM = "skf-husum", "_platform/node1"
PASSWORDS = {SLUG: "restic-pw-awo-1", OTHER: "restic-pw-diakonie-2", THIRD: "restic-pw-skf-3", PLATFORM: "platform-pw"}


class Store:
    """SecretStore stand-in: .get(ref)."""

    def __init__(self, plan) -> None:
        self.values = {plan.platform_secrets["backup_s3_access_key"]: CREDS.access_key,
                       plan.platform_secrets["backup_s3_secret_key"]: CREDS.secret_key,
                       plan.platform_secrets["restic_password_platform"]: PASSWORDS[PLATFORM]}
        for t in plan.tenants():
            self.values[t.secrets["restic_password"]] = PASSWORDS.get(t.slug, "unused-pw")

    def get(self, ref: str) -> str:
        return self.values[ref]


def _seed_database(pg, db: str, slug: str) -> None:
    """The tenant's database as its backups expect it: 50 events, nothing else (made anew if it exists)."""
    pg.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {db} OWNER {db} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
    pg.psql("CREATE TABLE events (id serial PRIMARY KEY, body text NOT NULL)", db)
    pg.psql(f"INSERT INTO events (body) SELECT '{SECRET_TEXT}-{slug}-' || i FROM generate_series(1, 50) i", db)
    pg.psql(f"ALTER TABLE events OWNER TO {db}", db)


def _seed_files(job, slug: str) -> None:
    """The tenant's media store and signing key as its backups expect them (made anew)."""
    subprocess.run(["rm", "-rf", str(job.media_dir)], check=True)
    (job.media_dir / "local_content").mkdir(parents=True)
    (job.media_dir / "local_content" / "photo.txt").write_text(f"media of {slug}: {SECRET_TEXT}")
    job.signing_key.parent.mkdir(parents=True, exist_ok=True)
    job.signing_key.write_text(f"ed25519 a_key {slug}-signing-key\n")
    job.signing_key.chmod(0o600)


def _tenants_file(root: Path, endpoint: str, bucket: str) -> Path:
    data = example_data()
    data["platform"]["backup"].update({"s3_endpoint": endpoint, "bucket": bucket, "max_age_hours": 26})
    # With Keycloak configured the plan has the per-host platform job (Keycloak's database) that test_09 runs.
    data["platform"]["artifacts"] = {"keycloak": {"version": "26.0.7", "url": "https://example.org/keycloak-26.0.7.tar.gz",
                                                  "sha256": "0" * 64}}
    return write_yaml(root / "tenants.yaml", data)


@pytest.fixture(scope="module")
def world(tmp_path_factory, s3_endpoint, postgres, restic_binary):
    """Plan, bucket, and the two tenants' databases, files and installed backup jobs — not backed up yet."""
    root = tmp_path_factory.mktemp("backup-local")
    plan = load_plan(_tenants_file(root, s3_endpoint, "ck-local-backups"))
    checks = provision(plan.platform.backup, CREDS)
    assert not [c for c in checks if c.state == "failed"], checks
    jobs = {}
    for slug in (SLUG, OTHER):
        db = plan.tenant(slug).db_name
        postgres.psql(f"CREATE ROLE {db} LOGIN")
        _seed_database(postgres, db, slug)
        job = install(plan, slug, root / slug, postgres, CREDS, PASSWORDS[slug])
        _seed_files(job, slug)
        jobs[slug] = job
    return plan, jobs, postgres, s3_endpoint


@pytest.fixture(scope="module")
def backed_up(world):
    """The world after one backup run of each tenant: {slug: that run}. Tests that only read the repositories
    share it; a test that needs a known latest snapshot of its own uses `seeded_backup`."""
    _, jobs, _, _ = world
    return {slug: job.run("run", job.job.name) for slug, job in jobs.items()}


@pytest.fixture
def seeded_backup(world, backed_up):
    """SLUG in its seeded state (50 events, media, signing key) and backed up just now: whatever ran before,
    the latest snapshot and the live data are the seeded ones."""
    plan, jobs, pg, _ = world
    _seed_database(pg, plan.tenant(SLUG).db_name, SLUG)
    _seed_files(jobs[SLUG], SLUG)
    result = jobs[SLUG].run("run", SLUG)
    assert result.returncode == 0, result.stderr
    return world


def _s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1",
                        aws_access_key_id=CREDS.access_key, aws_secret_access_key=CREDS.secret_key)


def test_01_backup_runs_and_reports(world) -> None:
    """A run of its own: the status file is the last run's, and other tests leave refused (75) or failed (2) ones."""
    plan, jobs, _, _ = world
    for slug, job in jobs.items():
        result = job.run("run", slug)
        assert result.returncode == 0, result.stderr
        status = json.loads(job.status_file.read_text())
        assert status["ok"] and status["exit_code"] == 0 and len(status["snapshot_id"]) >= 8
        # nothing secret in the log the journal would keep
        assert CREDS.secret_key not in result.stderr + result.stdout
        assert PASSWORDS[job.job.name] not in result.stderr + result.stdout
        assert not (Path(job.job.names["dump_dir"])).exists(), "plaintext dump left on disk"


def test_02_bucket_holds_no_plaintext(world, backed_up) -> None:
    _, _, _, endpoint = world
    s3 = _s3(endpoint)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="ck-local-backups") for o in page.get("Contents", [])]
    assert any(k.startswith(f"{SLUG}/data/") for k in keys) and any(k.startswith(f"{OTHER}/data/") for k in keys)
    for key in keys:
        body = s3.get_object(Bucket="ck-local-backups", Key=key)["Body"].read()
        for needle in (SECRET_TEXT.encode(), b"signing-key", b"local_content"):
            assert needle not in body, f"{key} holds plaintext {needle!r}"


def test_03_status_fresh_then_stale(world, backed_up) -> None:
    """THIRD has no repository in this bucket: test_09 backs it up into a bucket of its own."""
    plan, _, _, _ = world
    store = Store(plan)
    now = datetime.now(timezone.utc)
    by_label = {s.label: s for s in st.collect(plan, store, now=now)}
    for slug in (SLUG, OTHER):
        assert by_label[slug].state == st.FRESH and by_label[slug].snapshots == 1
        assert by_label[slug].bytes and by_label[slug].bytes > 1000
    assert by_label[THIRD].state == st.MISSING  # not backed up yet
    assert st.exit_code(list(by_label.values())) == 1
    later = now + timedelta(hours=27)
    stale = {s.label: s.state for s in st.collect(plan, store, now=later)}
    assert stale[SLUG] == st.STALE and stale[OTHER] == st.STALE
    only_fresh = [s for s in by_label.values() if s.label in (SLUG, OTHER)]
    assert st.exit_code(only_fresh) == 0
    sizes = st.storage_bytes(plan, store)
    assert set(sizes) == {t.slug for t in plan.tenants()}
    assert sizes[SLUG] == by_label[SLUG].bytes and sizes[THIRD] == 0


def test_04_wrong_password_is_unknown_not_fresh(world, backed_up) -> None:
    plan, _, _, _ = world
    store = Store(plan)
    store.values[plan.tenant(SLUG).secrets["restic_password"]] = "wrong"
    by_label = {s.label: s for s in st.collect(plan, store)}
    assert by_label[SLUG].state == st.UNKNOWN and "wrong password" in by_label[SLUG].detail
    assert st.exit_code(list(by_label.values())) == 2


def test_05_overlapping_run_is_refused(world) -> None:
    _, jobs, _, _ = world
    job = jobs[SLUG]
    job.lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(job.lock_file, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = job.run("run", SLUG)
    assert result.returncode == 75, result.stderr
    assert json.loads(job.status_file.read_text())["exit_code"] == 75


def test_06_failed_dump_is_exit_2_and_no_snapshot(world, backed_up) -> None:
    _, jobs, _, _ = world
    job = jobs[OTHER]
    snapshots_before = len(json.loads(job.run("snapshots", OTHER).stdout))
    conf = Path(job.job.names["job_file"])
    original = conf.read_text()
    conf.write_text(original.replace("DATABASES=synapse_diakonie_luebeck", "DATABASES=no_such_database"))
    try:
        result = job.run("run", OTHER)
    finally:
        conf.write_text(original)
    assert result.returncode == 2, result.stderr
    assert snapshots_before >= 1
    assert len(json.loads(job.run("snapshots", OTHER).stdout)) == snapshots_before


def test_07_destroy_and_restore_one_tenant(seeded_backup) -> None:
    plan, jobs, pg, _ = seeded_backup
    a, b = jobs[SLUG], jobs[OTHER]
    db_a, db_b = plan.tenant(SLUG).db_name, plan.tenant(OTHER).db_name
    before_b = pg.psql("SELECT count(*), max(body) FROM events", db_b)
    pg.psql(f"INSERT INTO events (body) VALUES ('written after the backup')", db_a)
    pg.psql(f"DROP DATABASE {db_a}")
    subprocess.run(["rm", "-rf", str(a.media_dir)], check=True)
    a.signing_key.write_text("overwritten\n")
    result = a.run("restore", SLUG, "latest")
    assert result.returncode == 0, result.stderr
    assert pg.psql("SELECT count(*) FROM events", db_a) == "50"
    assert pg.psql(f"SELECT count(*) FROM events WHERE body LIKE '{SECRET_TEXT}-{SLUG}-%'", db_a) == "50"
    assert pg.psql("SELECT datcollate FROM pg_database WHERE datname = current_database()", db_a) == "C"
    assert pg.psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db_a}'") == db_a
    assert (a.media_dir / "local_content" / "photo.txt").read_text().startswith(f"media of {SLUG}")
    assert a.signing_key.read_text() == f"ed25519 a_key {SLUG}-signing-key\n"
    assert oct(a.signing_key.stat().st_mode & 0o777) == "0o600"
    assert pg.psql("SELECT count(*), max(body) FROM events", db_b) == before_b
    assert not Path(a.job.names["restore_dir"]).exists(), "plaintext restore staging left behind"


def scratch_databases(pg) -> str:
    return pg.psql("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'ck\\_%'")


def test_07b_restore_over_a_live_database_swaps_in_a_checked_copy(seeded_backup) -> None:
    plan, jobs, pg, _ = seeded_backup
    a, db_a = jobs[SLUG], plan.tenant(SLUG).db_name
    pg.psql(f"REVOKE CONNECT, TEMPORARY ON DATABASE {db_a} FROM PUBLIC")
    acl = pg.psql(f"SELECT datacl FROM pg_database WHERE datname = '{db_a}'")
    assert a.run("run", SLUG).returncode == 0
    pg.psql("INSERT INTO events (body) SELECT 'after the backup ' || i FROM generate_series(1, 7) i", db_a)
    result = a.run("restore", SLUG, "latest")
    assert result.returncode == 0, result.stderr
    assert "restored and checked in ck_restore_" in result.stderr
    assert pg.psql("SELECT count(*) FROM events", db_a) == "50"
    assert pg.psql(f"SELECT datacl FROM pg_database WHERE datname = '{db_a}'") == acl
    assert pg.psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db_a}'") == db_a
    assert pg.psql("SELECT datcollate FROM pg_database WHERE datname = current_database()", db_a) == "C"
    assert scratch_databases(pg) == "", "a scratch or previous database was left behind"


def _snapshot_of_dump(job, dump: bytes) -> str:
    """A snapshot of the job's repository whose database dump is `dump` (as if the backup had written it)."""
    dump_dir = Path(job.job.names["dump_dir"])
    dump_dir.mkdir(parents=True, exist_ok=True)
    (dump_dir / f"{job.job.databases[0]}.dump").write_bytes(dump)
    out = subprocess.run(["bash", "-c", 'set -a; . "$1"; set +a; restic backup --json --quiet --tag counselkit "$2"', "_",
                          job.job.names["env_file"], str(dump_dir)], env=job.env, capture_output=True, text=True, cwd="/")
    subprocess.run(["rm", "-rf", str(dump_dir)], check=True)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()][-1]["snapshot_id"]


def _restic(job, *args: str) -> subprocess.CompletedProcess[str]:
    """restic on the job's repository, with its env file (password, S3 keys) as the script reads it."""
    return subprocess.run(["bash", "-c", 'set -a; . "$1"; set +a; shift; exec restic "$@"', "_",
                           job.job.names["env_file"], *args], env=job.env, capture_output=True, text=True, cwd="/")


def _forget(job, snapshot: str) -> None:
    out = _restic(job, "forget", "--quiet", snapshot)
    assert out.returncode == 0, out.stderr


def _dump(pg, db: str) -> bytes:
    return subprocess.run(["runuser", "-u", "postgres", "--", "pg_dump", "--format=custom", "--create", db],
                          capture_output=True, check=True, env={**os.environ, **pg.env}, cwd="/").stdout


def _dump_owned_by_a_vanished_role(pg, db: str) -> bytes:
    # Restores half-way: its tables are created, then ALTER ... OWNER TO a role this cluster no longer has fails.
    pg.psql("CREATE ROLE ck_vanished")
    pg.psql("CREATE TABLE zz_vanished (id int); ALTER TABLE zz_vanished OWNER TO ck_vanished", db)
    dump = _dump(pg, db)
    pg.psql("DROP TABLE zz_vanished", db)
    pg.psql("DROP ROLE ck_vanished")
    return dump


@pytest.mark.parametrize("breakage", ["truncated", "vanished_role", "garbage"])
def test_07c_a_broken_dump_leaves_the_live_database_untouched(seeded_backup, breakage: str) -> None:
    plan, jobs, pg, _ = seeded_backup
    a, db_a = jobs[SLUG], plan.tenant(SLUG).db_name
    pg.psql(f"INSERT INTO events (body) VALUES ('live only: {breakage}')", db_a)
    before = pg.psql("SELECT count(*), max(id) FROM events", db_a)
    media_before = (a.media_dir / "local_content" / "photo.txt").read_text()
    good = _dump(pg, db_a)
    dump = {"truncated": lambda: good[: len(good) * 2 // 3],
            "vanished_role": lambda: _dump_owned_by_a_vanished_role(pg, db_a),
            "garbage": lambda: b"PGDMP" + os.urandom(4096)}[breakage]()
    snapshot = _snapshot_of_dump(a, dump)
    try:
        result = a.run("restore", SLUG, snapshot)
    finally:  # the broken snapshot is nobody's latest and no extra snapshot for test_03's count
        _forget(a, snapshot)
    assert result.returncode == 5, result.stderr
    assert f"the live database {db_a} is untouched" in result.stderr
    assert pg.psql("SELECT count(*), max(id) FROM events", db_a) == before
    assert (a.media_dir / "local_content" / "photo.txt").read_text() == media_before
    assert scratch_databases(pg) == "", "a scratch database was left behind"
    assert not Path(a.job.names["restore_dir"]).exists(), "plaintext restore staging left behind"


def test_08_retention_prunes(world) -> None:
    plan, jobs, _, _ = world
    job = jobs[OTHER]
    for _ in range(2):
        assert job.run("run", OTHER).returncode == 0
    snaps = json.loads(job.run("snapshots", OTHER).stdout)
    # --keep-daily=7 keeps one snapshot per day: the runs of today collapse into the newest
    assert len(snaps) == 1
    assert snaps[0]["id"].startswith(json.loads(job.status_file.read_text())["snapshot_id"])


@pytest.fixture
def all_repositories(world, tmp_path_factory):
    """Every repository of the plan backed up, THIRD and the platform job (Keycloak's database) as well, into a
    bucket of its own: the shared one keeps THIRD missing for test_03 whatever ran before (a bucket with object lock
    keeps every version, so deleting them afterwards is no way back). Returns (plan, tenants file)."""
    _, _, pg, endpoint = world
    root = tmp_path_factory.mktemp("backup-all")
    tenants = _tenants_file(root, endpoint, "ck-local-all")
    plan = load_plan(tenants)
    assert not [c for c in provision(plan.platform.backup, CREDS) if c.state == "failed"]
    databases = ["keycloak", plan.tenant(THIRD).db_name]
    try:
        for db in databases:
            pg.psql(f"CREATE DATABASE {db}")
        for label in (SLUG, OTHER, THIRD, PLATFORM):
            job = install(plan, label, root / label.replace("/", "-"), pg, CREDS, PASSWORDS[label])
            if job.job.kind == "tenant":
                _seed_files(job, label)
            assert job.run("run", job.job.name).returncode == 0
        yield plan, tenants
    finally:
        for db in databases:
            pg.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def test_09_status_command_fresh_then_stale(all_repositories, tmp_path, monkeypatch) -> None:
    """The CLI end to end: real secrets store, restic, moto; exit 0 when all fresh, 1 once the clock passes the policy."""
    from click.testing import CliRunner

    from counselkit.backup.commands import backup
    from counselkit.secrets import SecretStore

    plan, tenants = all_repositories
    password_file = tmp_path / "vault-password"
    password_file.write_text("local-test-vault-password")
    password_file.chmod(0o600)
    monkeypatch.setenv("COUNSELKIT_VAULT_PASSWORD_FILE", str(password_file))
    store = SecretStore.open(tenants)
    for ref, value in Store(plan).values.items():
        store.set(ref, value)
    store.save()
    runner = CliRunner()
    fresh = runner.invoke(backup, ["status", "--file", str(tenants)])
    assert fresh.exit_code == 0, fresh.output
    assert "STALE" not in fresh.output and "all fresh" in fresh.output
    later = (datetime.now(timezone.utc) + timedelta(hours=27)).isoformat()
    stale = runner.invoke(backup, ["status", "--file", str(tenants), "--at", later])
    assert stale.exit_code == 1, stale.output
    assert stale.output.count("STALE") >= 4
    as_json = runner.invoke(backup, ["status", "--file", str(tenants), "--json"])
    data = json.loads(as_json.output)
    assert {r["repository"] for r in data["repositories"]} == {SLUG, OTHER, THIRD, PLATFORM}
    assert all(r["bytes"] > 0 for r in data["repositories"])
    for secret in (CREDS.secret_key, *PASSWORDS.values()):
        assert secret not in fresh.output + stale.output + as_json.output
