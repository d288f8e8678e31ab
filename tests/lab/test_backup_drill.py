"""Restore drill on real lab hosts: two tenants with users and messages, back up to the lab's S3 server,
destroy tenant A's database and media, restore A, prove with a Matrix client that A's messages (and media)
are back and that B was never touched; and that the bucket holds no plaintext.

Deploy: the `deployed` fixture runs `pyinfra -y inventories/lab.py deploy/site.py` (like `counselkit demo`,
with COUNSELKIT_TENANTS and the vault password prepared the same way) unless both tenants' Synapse units and
backup timers are already active on the host. Override the command with $COUNSELKIT_DRILL_DEPLOY.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from counselkit.backup.commands import backup
from counselkit.backup.drill import matrix
from counselkit.backup.jobs import find_job
from counselkit.backup.remote import lab_site
from counselkit.lab import LabState, ssh
from counselkit.plan import load_plan
from counselkit.secrets import SecretStore
from tests.support import EXAMPLE, REPO

pytestmark = pytest.mark.lab

TENANT_A, TENANT_B = "awo-kiel", "diakonie-luebeck"
DEPLOY_ENTRY, LAB_INVENTORY = REPO / "deploy" / "site.py", REPO / "inventories" / "lab.py"
MESSAGES = 25


def tenants_file() -> Path:
    return Path(os.environ.get("COUNSELKIT_TENANTS", EXAMPLE))


def sh(lab: LabState, host: str, command: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = ssh.run(lab.host(host), command, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"{host}: `{command}` exited {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def _deployed_already(lab: LabState, plan) -> bool:
    host = plan.tenant(TENANT_A).host
    units = " ".join([plan.tenant(TENANT_A).unit, plan.tenant(TENANT_B).unit,
                      find_job(plan, TENANT_A).names["timer"], find_job(plan, TENANT_B).names["timer"]])
    return sh(lab, host, f"systemctl is-active --quiet {units}", check=False).returncode == 0


@pytest.fixture(scope="module")
def deployed(lab: LabState):
    from counselkit.demo import ensure_vault_password, prepare_secrets

    assert lab.s3 is not None, "the lab has no S3 server"
    ensure_vault_password()
    tenants = tenants_file()
    prepare_secrets(tenants, lab.s3.access_key, lab.s3.secret_key)  # secrets ensure + the lab's S3 credentials
    site, _ = lab_site()
    plan = load_plan(tenants, site=site)
    provisioned = CliRunner().invoke(backup, ["provision", "--file", str(tenants), "--lab"])
    assert provisioned.exit_code == 0, provisioned.output
    print(provisioned.output)
    if not _deployed_already(lab, plan):
        command = os.environ.get("COUNSELKIT_DRILL_DEPLOY")
        if command is None:
            if not (DEPLOY_ENTRY.exists() and LAB_INVENTORY.exists()):
                pytest.fail(f"cannot deploy: {DEPLOY_ENTRY.relative_to(REPO)} / {LAB_INVENTORY.relative_to(REPO)} missing "
                            "(or set COUNSELKIT_DRILL_DEPLOY to the deploy command)")
            command = f"{REPO}/.venv/bin/pyinfra -y {LAB_INVENTORY} {DEPLOY_ENTRY}"
        result = subprocess.run(shlex.split(command), cwd=REPO, capture_output=True, text=True, timeout=3600,
                                env={**os.environ, "COUNSELKIT_TENANTS": str(tenants)})
        if result.returncode != 0:
            pytest.fail(f"deploy failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        assert _deployed_already(lab, plan), "deploy finished but the Synapse units / backup timers are not active"
    return plan, SecretStore.open(tenants)


def client(lab: LabState, plan, slug: str, data: dict) -> dict:
    tenant = plan.tenant(slug)
    argv = ssh.ssh_argv(lab.host(tenant.host))  # ends with user@address; the command follows
    out = matrix([*argv, "--"], {"base": f"http://127.0.0.1:{tenant.synapse_port}", **data})
    assert "error" not in out, out
    return out


def main_pid_since(lab: LabState, plan, slug: str) -> str:
    tenant = plan.tenant(slug)
    return sh(lab, tenant.host, f"systemctl show -p MainPID -p ActiveEnterTimestamp {tenant.unit}").stdout.strip()


def test_restore_drill(lab: LabState, deployed, tmp_path: Path) -> None:
    plan, store = deployed
    a, b = plan.tenant(TENANT_A), plan.tenant(TENANT_B)
    assert a.host == b.host, "the drill expects both tenants on one host (the example places them on node1)"
    host = a.host
    run_id = uuid.uuid4().hex[:10]
    texts = {slug: [f"drill-{run_id}-{slug}-Vertraulich-{i:04d}" for i in range(MESSAGES)] for slug in (TENANT_A, TENANT_B)}
    media_text = f"drill-{run_id}-media-Anlage-Beratungsprotokoll"

    # 1. users and messages on two tenants
    seeded = {}
    for slug in (TENANT_A, TENANT_B):
        secret = store.get(plan.tenant(slug).secrets["registration_shared_secret"])
        seeded[slug] = client(lab, plan, slug, {"action": "seed", "shared_secret": secret, "user": f"drill{run_id}",
                                                "password": uuid.uuid4().hex, "texts": texts[slug],
                                                "media": media_text if slug == TENANT_A else None})
    assert seeded[TENANT_A]["media"], "media upload failed"

    # 2. back up both (and the rest of the host) through systemd, as the timer would
    for label in (TENANT_A, TENANT_B):
        ran = CliRunner().invoke(backup, ["run", label, "--file", str(tenants_file()), "--lab"])
        assert ran.exit_code == 0, ran.output
        print(ran.output.strip())
    for label in (TENANT_A, TENANT_B):
        shown = sh(lab, host, f"systemctl show -p Result -p ExecMainStatus {find_job(plan, label).names['service']}").stdout
        assert "Result=success" in shown and "ExecMainStatus=0" in shown, shown
    status = CliRunner().invoke(backup, ["status", "--file", str(tenants_file()), "--lab", "--json"])
    rows = {r["repository"]: r for r in json.loads(status.output)["repositories"]}
    for slug in (TENANT_A, TENANT_B):
        assert rows[slug]["state"] == "fresh" and rows[slug]["bytes"] > 0, rows[slug]
    print(CliRunner().invoke(backup, ["status", "--file", str(tenants_file()), "--lab"]).output)

    # 3. encrypted: no object in the bucket holds message text, media or the signing key in clear
    s3 = boto3.client("s3", endpoint_url=lab.s3.endpoint, region_name=lab.s3.region,
                      aws_access_key_id=lab.s3.access_key, aws_secret_access_key=lab.s3.secret_key)
    signing_key = sh(lab, host, f"cat {a.signing_key_path}").stdout.split()[-1].encode()
    needles = [run_id.encode(), media_text.encode(), signing_key, b"Vertraulich"]
    checked = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=plan.platform.backup.bucket):
        for version in page.get("Versions", []):
            body = s3.get_object(Bucket=plan.platform.backup.bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            checked += 1
            for needle in needles:
                assert needle not in body, f"{version['Key']} holds plaintext"
    assert checked > 10

    # 4. after the backup: B writes more (a restore of B would lose it); A writes something the restore must drop
    late_b = [f"drill-{run_id}-{TENANT_B}-after-backup"]
    client(lab, plan, TENANT_B, {"action": "send", "token": seeded[TENANT_B]["token"], "room": seeded[TENANT_B]["room"], "texts": late_b})
    client(lab, plan, TENANT_A, {"action": "send", "token": seeded[TENANT_A]["token"], "room": seeded[TENANT_A]["room"],
                                 "texts": [f"drill-{run_id}-{TENANT_A}-after-backup"]})
    b_before = client(lab, plan, TENANT_B, {"action": "read", "token": seeded[TENANT_B]["token"], "room": seeded[TENANT_B]["room"]})
    b_process = main_pid_since(lab, plan, TENANT_B)

    # 5. destroy tenant A: database and media store gone
    sh(lab, host, f"systemctl stop {a.unit} && cd / && runuser -u postgres -- dropdb {a.db_name} && rm -rf {a.media_dir}")
    assert sh(lab, host, f"cd / && runuser -u postgres -- psql -XtAc \"SELECT 1 FROM pg_database WHERE datname='{a.db_name}'\"").stdout.strip() == ""

    # 6. restore A
    started = time.monotonic()
    restored = CliRunner().invoke(backup, ["restore", TENANT_A, "--file", str(tenants_file()), "--lab"])
    restore_seconds = time.monotonic() - started
    assert restored.exit_code == 0, restored.output
    print(restored.output.strip(), f"({restore_seconds:.1f} s)")

    # 7. A's messages and media are back (the post-backup message is not: RPO = last snapshot)
    a_after = client(lab, plan, TENANT_A, {"action": "read", "token": seeded[TENANT_A]["token"], "room": seeded[TENANT_A]["room"],
                                           "media": seeded[TENANT_A]["media"], "wait": 180})
    assert a_after["status"] == 200, a_after
    assert a_after["texts"] == texts[TENANT_A]
    assert a_after["media_status"] == 200 and a_after["media"] == media_text

    # 8. B never touched: same events including the one written after the backup, same process
    b_after = client(lab, plan, TENANT_B, {"action": "read", "token": seeded[TENANT_B]["token"], "room": seeded[TENANT_B]["room"]})
    assert b_after["event_ids"] == b_before["event_ids"]
    assert b_after["texts"] == texts[TENANT_B] + late_b
    assert main_pid_since(lab, plan, TENANT_B) == b_process

    # 9. leftovers: the plaintext staging is gone; the old (empty) state of A was not kept as it did not exist
    assert sh(lab, host, f"test ! -e {find_job(plan, TENANT_A).names['restore_dir']}", check=False).returncode == 0
    print(f"DRILL OK: {TENANT_A} restored in {restore_seconds:.1f} s with {len(a_after['texts'])} messages and its media; "
          f"{TENANT_B} untouched ({len(b_after['texts'])} messages, same Synapse process); {checked} bucket objects without plaintext")


def status_rows(*options: str) -> dict[str, dict]:
    shown = CliRunner().invoke(backup, ["status", "--file", str(tenants_file()), "--lab", "--json", *options])
    return {r["repository"]: r for r in json.loads(shown.output)["repositories"]}


@pytest.fixture(scope="module")
def backed_up(deployed):
    """Both tenants with a snapshot in the lab's bucket, whether or not the drill ran first: a backup run only for
    a repository that has none yet (a reused lab usually has them)."""
    plan, _ = deployed
    rows = status_rows()
    for slug in (TENANT_A, TENANT_B):
        if not rows.get(slug, {}).get("snapshots"):
            ran = CliRunner().invoke(backup, ["run", slug, "--file", str(tenants_file()), "--lab"])
            assert ran.exit_code == 0, ran.output
    return plan


def test_status_turns_stale_on_the_lab(lab: LabState, backed_up) -> None:
    """The freshness policy on real repositories: judged max_age_hours + 1 h later, both tenants' backups are
    stale (exit 1)."""
    plan = backed_up
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + (plan.platform.backup.max_age_hours + 1) * 3600))
    result = CliRunner().invoke(backup, ["status", "--file", str(tenants_file()), "--lab", "--at", later])
    assert result.exit_code == 1, result.output
    rows = status_rows("--at", later)
    assert [rows[slug]["state"] for slug in (TENANT_A, TENANT_B)] == ["stale", "stale"], rows


def test_broken_dump_leaves_the_live_database_untouched(lab: LabState, deployed, backed_up) -> None:
    """A snapshot whose dump does not restore (a table owned by a role that no longer exists): the restore stops
    before it touches anything — tenant A keeps its messages, including those written after the backup, and its
    Synapse keeps running (same process); no scratch database and no plaintext staging is left.
    `backed_up`: the broken snapshot goes into an existing repository (only a backup run initialises one)."""
    plan, store = deployed
    a = plan.tenant(TENANT_A)
    job = find_job(plan, TENANT_A)
    names, db = job.names, a.db_name
    run_id = uuid.uuid4().hex[:10]
    secret = store.get(a.secrets["registration_shared_secret"])
    seeded = client(lab, plan, TENANT_A, {"action": "seed", "shared_secret": secret, "user": f"broken{run_id}",
                                          "password": uuid.uuid4().hex, "texts": [f"broken-{run_id}-{i}" for i in range(5)],
                                          "media": None})
    psql = "cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1"
    # The dump restores half-way: its tables are created, then ALTER TABLE ... OWNER TO the vanished role fails.
    snapshot_json = sh(lab, a.host, (
        f"set -euo pipefail; umask 077; {psql} -d postgres -c 'CREATE ROLE ck_drill_vanished' && "
        f"{psql} -d {db} -c 'CREATE TABLE zz_drill_vanished (id int); ALTER TABLE zz_drill_vanished OWNER TO ck_drill_vanished' && "
        f"mkdir -p {names['dump_dir']} && "
        f"(cd / && runuser -u postgres -- pg_dump --format=custom --create {db}) > {names['dump_dir']}/{db}.dump && "
        f"{psql} -d {db} -c 'DROP TABLE zz_drill_vanished' && {psql} -d postgres -c 'DROP ROLE ck_drill_vanished' && "
        f"set -a && . {names['env_file']} && set +a && "
        f"restic backup --json --quiet --tag counselkit --tag job={job.name} {names['dump_dir']} | tail -1; "
        f"rm -rf {names['dump_dir']}")).stdout
    snapshot = json.loads(snapshot_json.strip().splitlines()[-1])["snapshot_id"]
    late = [f"broken-{run_id}-after-the-broken-backup"]
    client(lab, plan, TENANT_A, {"action": "send", "token": seeded["token"], "room": seeded["room"], "texts": late})
    before = client(lab, plan, TENANT_A, {"action": "read", "token": seeded["token"], "room": seeded["room"]})
    process = main_pid_since(lab, plan, TENANT_A)
    try:
        restored = CliRunner().invoke(backup, ["restore", TENANT_A, "--snapshot", snapshot, "--file", str(tenants_file()), "--lab"])
        print(restored.output.strip())
        assert restored.exit_code != 0, restored.output
        assert "exit 5" in restored.output and f"running service of {TENANT_A} are untouched" in restored.output
        after = client(lab, plan, TENANT_A, {"action": "read", "token": seeded["token"], "room": seeded["room"]})
        assert after["event_ids"] == before["event_ids"] and after["texts"][-1] == late[0]
        assert main_pid_since(lab, plan, TENANT_A) == process, "the tenant's Synapse was stopped or restarted"
        left = sh(lab, a.host, f"{psql} -d postgres -tAc \"SELECT datname FROM pg_database WHERE datname LIKE 'ck\\_%'\"").stdout
        assert left.strip() == "", f"scratch database left behind: {left}"
        assert sh(lab, a.host, f"test ! -e {names['restore_dir']}", check=False).returncode == 0
    finally:  # the broken snapshot must never be anyone's "latest"
        sh(lab, a.host, f"set -a && . {names['env_file']} && set +a && restic forget --quiet {snapshot}", check=False)
