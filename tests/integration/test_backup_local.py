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


@pytest.fixture(scope="module")
def world(tmp_path_factory, s3_endpoint, postgres, restic_binary):
    root = tmp_path_factory.mktemp("backup-local")
    data = example_data()
    data["platform"]["backup"].update({"s3_endpoint": s3_endpoint, "bucket": "ck-local-backups", "max_age_hours": 26})
    # With Keycloak configured the plan has the per-host platform job (Keycloak's database) that test_09 runs.
    data["platform"]["artifacts"] = {"keycloak": {"version": "26.0.7", "url": "https://example.org/keycloak-26.0.7.tar.gz",
                                                  "sha256": "0" * 64}}
    tenants = write_yaml(root / "tenants.yaml", data)
    plan = load_plan(tenants)
    checks = provision(plan.platform.backup, CREDS)
    assert not [c for c in checks if c.state == "failed"], checks
    jobs = {}
    for slug in (SLUG, OTHER):
        db = plan.tenant(slug).db_name
        postgres.psql(f"CREATE ROLE {db} LOGIN")
        postgres.psql(f"CREATE DATABASE {db} OWNER {db} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
        postgres.psql("CREATE TABLE events (id serial PRIMARY KEY, body text NOT NULL)", db)
        postgres.psql(f"INSERT INTO events (body) SELECT '{SECRET_TEXT}-{slug}-' || i FROM generate_series(1, 50) i", db)
        postgres.psql(f"ALTER TABLE events OWNER TO {db}", db)
        job = install(plan, slug, root / slug, postgres, CREDS, PASSWORDS[slug])
        job.media_dir.mkdir(parents=True)
        (job.media_dir / "local_content").mkdir()
        (job.media_dir / "local_content" / "photo.txt").write_text(f"media of {slug}: {SECRET_TEXT}")
        job.signing_key.parent.mkdir(parents=True)
        job.signing_key.write_text(f"ed25519 a_key {slug}-signing-key\n")
        job.signing_key.chmod(0o600)
        jobs[slug] = job
    return plan, jobs, postgres, s3_endpoint


def _s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1",
                        aws_access_key_id=CREDS.access_key, aws_secret_access_key=CREDS.secret_key)


def test_01_backup_runs_and_reports(world) -> None:
    plan, jobs, _, _ = world
    for job in jobs.values():
        result = job.run("run", job.job.name)
        assert result.returncode == 0, result.stderr
        status = json.loads(job.status_file.read_text())
        assert status["ok"] and status["exit_code"] == 0 and len(status["snapshot_id"]) >= 8
        # nothing secret in the log the journal would keep
        assert CREDS.secret_key not in result.stderr + result.stdout
        assert PASSWORDS[job.job.name] not in result.stderr + result.stdout
        assert not (Path(job.job.names["dump_dir"])).exists(), "plaintext dump left on disk"


def test_02_bucket_holds_no_plaintext(world) -> None:
    _, _, _, endpoint = world
    s3 = _s3(endpoint)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="ck-local-backups") for o in page.get("Contents", [])]
    assert any(k.startswith(f"{SLUG}/data/") for k in keys) and any(k.startswith(f"{OTHER}/data/") for k in keys)
    for key in keys:
        body = s3.get_object(Bucket="ck-local-backups", Key=key)["Body"].read()
        for needle in (SECRET_TEXT.encode(), b"signing-key", b"local_content"):
            assert needle not in body, f"{key} holds plaintext {needle!r}"


def test_03_status_fresh_then_stale(world) -> None:
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


def test_04_wrong_password_is_unknown_not_fresh(world) -> None:
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


def test_06_failed_dump_is_exit_2_and_no_snapshot(world) -> None:
    _, jobs, _, _ = world
    job = jobs[OTHER]
    conf = Path(job.job.names["job_file"])
    original = conf.read_text()
    conf.write_text(original.replace("DATABASES=synapse_diakonie_luebeck", "DATABASES=no_such_database"))
    try:
        result = job.run("run", OTHER)
    finally:
        conf.write_text(original)
    assert result.returncode == 2, result.stderr
    snaps = json.loads(job.run("snapshots", OTHER).stdout)
    assert len(snaps) == 1


def test_07_destroy_and_restore_one_tenant(world) -> None:
    plan, jobs, pg, _ = world
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


def test_08_retention_prunes(world) -> None:
    plan, jobs, _, _ = world
    job = jobs[OTHER]
    for _ in range(2):
        assert job.run("run", OTHER).returncode == 0
    snaps = json.loads(job.run("snapshots", OTHER).stdout)
    # --keep-daily=7 keeps one snapshot per day: the runs of today collapse into the newest
    assert len(snaps) == 1
    assert snaps[0]["id"].startswith(json.loads(job.status_file.read_text())["snapshot_id"])


def test_09_status_command_fresh_then_stale(world, tmp_path, monkeypatch) -> None:
    """The CLI end to end: real secrets store, restic, moto; exit 0 when all fresh, 1 once the clock passes the policy."""
    from click.testing import CliRunner

    from counselkit.backup.commands import backup
    from counselkit.secrets import SecretStore

    plan, jobs, pg, endpoint = world
    pg.psql("CREATE DATABASE keycloak")
    pg.psql(f"CREATE DATABASE {plan.tenant(THIRD).db_name}")
    root = jobs[SLUG].root.parent
    for label in (THIRD, PLATFORM):
        job = install(plan, label, root / label.replace("/", "-"), pg, CREDS, PASSWORDS[label])
        assert job.run("run", job.job.name).returncode == 0
    tenants = root / "tenants.yaml"
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
