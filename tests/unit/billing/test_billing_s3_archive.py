"""The archive in S3 under COMPLIANCE object lock, against moto's S3 server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

import counselkit.billing.run as run_module
from counselkit.billing.archive import ArchiveError, S3Archive
from counselkit.billing.ledger import ledger_path
from counselkit.billing.period import Period
from counselkit.billing.run import run_period
from counselkit.billing.validate import Validator
from counselkit.problems import InputError
from tests.integration.servers import moto_server

NOV = Period.parse("2026-11")
ISSUE = date(2026, 12, 1)


@pytest.fixture(scope="module")
def s3() -> Iterator[object]:
    with moto_server() as url:
        yield boto3.client("s3", endpoint_url=url, region_name="eu-central-1", aws_access_key_id="AKIABILLINGTEST0001",
                           aws_secret_access_key="billing-test-secret-0123456789")


@pytest.fixture
def archive(s3, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> S3Archive:
    bucket = "ck-billing-" + request.node.name.replace("_", "-")[:40].strip("-").lower()
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True,
                     CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    archive = S3Archive(s3, bucket, retention_years=10)
    monkeypatch.setattr(run_module, "open_archive", lambda tenants_file, inventory: archive)
    return archive


def test_originals_locked_in_compliance_mode(saas_file: Path, any_validator: Validator, archive: S3Archive, s3) -> None:
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    key = "billing-archive/documents/2026-11/RE-000001.pdf"
    body = s3.get_object(Bucket=archive.bucket, Key=key)["Body"].read()
    assert body == result.issued[0].pdf_file.read_bytes()
    head = s3.head_object(Bucket=archive.bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].astimezone(timezone.utc).date() == date(2036, 12, 1)
    assert [p.number for p in archive.pins()] == ["RE-000003"]
    version = s3.head_object(Bucket=archive.bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError):  # the lock holds against the bucket owner too
        s3.delete_object(Bucket=archive.bucket, Key=key, VersionId=version)
    again = run_period(saas_file, NOV, issue_date=date(2027, 1, 3), validator=any_validator)
    assert not any(i.new for i in again.issued)


def test_s3_original_never_rewritten(archive: S3Archive) -> None:
    archive.put("2026-11", "RE-000009.xml", b"<a/>", date(2026, 12, 1))
    with pytest.raises(ArchiveError, match="never rewritten"):
        archive.put("2026-11", "RE-000009.xml", b"<b/>", date(2026, 12, 1))


def test_truncation_detected_with_s3_pins(saas_file: Path, any_validator: Validator, archive: S3Archive) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    lines = ledger_path(saas_file).read_text(encoding="utf-8").splitlines(keepends=True)
    ledger_path(saas_file).write_text("".join(lines[:2]), encoding="utf-8")
    with pytest.raises(InputError, match="truncated"):
        run_period(saas_file, Period.parse("2026-12"), issue_date=date(2027, 1, 2), validator=any_validator)


def test_overwritten_s3_original_detected(saas_file: Path, any_validator: Validator, archive: S3Archive, s3) -> None:
    run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    # Versioned bucket: a new version can be put on top; the locked original stays, but the current one differs.
    s3.put_object(Bucket=archive.bucket, Key="billing-archive/documents/2026-11/RE-000002.xml", Body=b"<forged/>",
                  ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=datetime(2030, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(ArchiveError, match="RE-000002.xml has sha256"):
        run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
