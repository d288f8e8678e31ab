"""`backup provision` against an S3 server (moto, server mode, loopback) started by a fixture."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from counselkit.backup import s3 as s3mod
from counselkit.backup.render import Credentials
from counselkit.backup.s3 import StorageError, lifecycle_rules, prefix_bytes, provision
from counselkit.model.platform import Backup
from tests.integration.servers import moto_server

CREDS = Credentials("AKIAPROVISIONTEST001", "provision-secret-key-0123456789")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def settings(endpoint: str, bucket: str, **changes) -> Backup:
    return Backup(s3_endpoint=endpoint, bucket=bucket, **changes)


def client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1",
                        aws_access_key_id=CREDS.access_key, aws_secret_access_key=CREDS.secret_key)


def states(checks) -> dict[str, str]:
    return {c.name: c.state for c in checks}


def test_creates_bucket_with_versioning_lifecycle_and_object_lock(endpoint) -> None:
    backup = settings(endpoint, "ck-provision-new", immutable_days=14)
    first = states(provision(backup, CREDS))
    assert first["bucket"] == "changed" and first["lifecycle"] == "changed" and first["object-lock"] == "changed"
    assert first["versioning"] in ("ok", "changed")  # object lock at creation turns versioning on already
    s3 = client(endpoint)
    assert s3.get_bucket_versioning(Bucket="ck-provision-new")["Status"] == "Enabled"
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="ck-provision-new")["Rules"]}
    assert rules["counselkit-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 15
    assert rules["counselkit-abort-multipart"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    lock = s3.get_object_lock_configuration(Bucket="ck-provision-new")["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"], retention.get("Years", 0)) == ("GOVERNANCE", 14, 0)


def test_second_run_only_checks(endpoint) -> None:
    backup = settings(endpoint, "ck-provision-twice", immutable_days=7)
    provision(backup, CREDS)
    again = states(provision(backup, CREDS))
    assert again == {"bucket": "ok", "versioning": "ok", "lifecycle": "ok", "object-lock": "ok"}


def test_keeps_foreign_lifecycle_rules(endpoint) -> None:
    s3 = client(endpoint)
    s3.create_bucket(Bucket="ck-provision-foreign", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_bucket_lifecycle_configuration(Bucket="ck-provision-foreign", LifecycleConfiguration={"Rules": [
        {"ID": "operator-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 90}}]})
    checks = states(provision(settings(endpoint, "ck-provision-foreign", immutable_days=0), CREDS))
    assert checks["bucket"] == "ok" and checks["versioning"] == "changed" and checks["object-lock"] == "ok"
    ids = {r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket="ck-provision-foreign")["Rules"]}
    assert ids == {"operator-logs", "counselkit-noncurrent-versions", "counselkit-abort-multipart"}


class LimitedProvider:
    """A provider without lifecycle rules and object lock: wraps a real client, refuses those calls."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name):
        if "lifecycle" in name or "object_lock" in name:
            def refuse(**_):
                raise ClientError({"Error": {"Code": "NotImplemented", "Message": "not here"}}, name)
            return refuse
        return getattr(self.real, name)


def test_reports_what_the_provider_lacks(endpoint, monkeypatch) -> None:
    real_client = s3mod.client
    monkeypatch.setattr(s3mod, "client", lambda backup, creds: LimitedProvider(real_client(backup, creds)))
    checks = {c.name: c for c in provision(settings(endpoint, "ck-provision-limited"), CREDS)}
    assert checks["versioning"].state in ("changed", "ok")
    assert checks["lifecycle"].state == "unsupported" and "NotImplemented" in checks["lifecycle"].detail
    assert checks["object-lock"].state == "unsupported" and "not immutable" in checks["object-lock"].detail
    assert checks["lifecycle"].problem and checks["object-lock"].problem


def test_wrong_credentials_are_a_clear_error(endpoint, monkeypatch) -> None:
    # moto accepts any key; an unreachable endpoint stands for "cannot reach"
    with pytest.raises(StorageError, match="cannot reach"):
        provision(settings("http://127.0.0.1:9", "ck-nowhere"), CREDS)


def test_prefix_bytes_counts_every_version_per_prefix(endpoint) -> None:
    backup = settings(endpoint, "ck-provision-bytes")
    provision(backup, CREDS)
    s3 = client(endpoint)
    s3.put_object(Bucket="ck-provision-bytes", Key="awo-kiel/data/aa", Body=b"x" * 100)
    s3.put_object(Bucket="ck-provision-bytes", Key="awo-kiel/data/aa", Body=b"x" * 50)  # second version
    s3.put_object(Bucket="ck-provision-bytes", Key="awo-kiel-2/data/bb", Body=b"y" * 7)
    s3.put_object(Bucket="ck-provision-bytes", Key="_platform/node1/data/cc", Body=b"z" * 3)
    sizes = prefix_bytes(backup, CREDS, ["awo-kiel", "awo-kiel-2", "_platform/node1", "empty"])
    assert sizes == {"awo-kiel": 150, "awo-kiel-2": 7, "_platform/node1": 3, "empty": 0}


def test_lifecycle_keeps_versions_one_day_past_the_lock() -> None:
    rules = lifecycle_rules(Backup(s3_endpoint="https://s3.example.org", bucket="b-x-y", immutable_days=30))
    assert rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 31
