"""The backup bucket through boto3 on the control machine: provision it and measure what each prefix holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.platform import Backup
from .render import Credentials


class StorageError(Exception):
    """The bucket cannot be reached or used (message without any credential)."""


def client(backup: Backup, credentials: Credentials) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=str(backup.s3_endpoint).rstrip("/"),
        region_name=backup.region,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        # Path-style works with every S3-compatible provider; proxies come from HTTPS_PROXY / NO_PROXY.
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                      connect_timeout=10, read_timeout=60),
    )


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__


UNSUPPORTED_CODES = {"NotImplemented", "NotSupported", "MethodNotAllowed", "InvalidRequest", "XNotImplemented",
                     "UnsupportedOperation", "InvalidArgument", "501"}


@dataclass
class Check:
    name: str
    state: str  # "ok" | "changed" | "unsupported" | "failed"
    detail: str

    @property
    def problem(self) -> bool:
        return self.state in ("unsupported", "failed")


def lifecycle_rules(backup: Backup) -> list[dict[str, Any]]:
    keep = max(backup.immutable_days + 1, 1)
    return [
        {
            "ID": "counselkit-noncurrent-versions",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            # restic deletes pruned packs; the bucket keeps the old versions this long, then drops them.
            "NoncurrentVersionExpiration": {"NoncurrentDays": keep},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
        {
            "ID": "counselkit-abort-multipart",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
    ]


def provision(backup: Backup, credentials: Credentials) -> list[Check]:
    """Create or check the bucket, versioning, lifecycle and object lock; report, never fail silently."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(backup, credentials)
    checks: list[Check] = []
    bucket = backup.bucket
    created = False
    try:
        s3.head_bucket(Bucket=bucket)
        checks.append(Check("bucket", "ok", f"{bucket} exists and is reachable"))
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise StorageError(f"bucket {bucket}: {_code(exc)} (check the credentials and the endpoint)") from None
        args: dict[str, Any] = {"Bucket": bucket}
        if backup.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": backup.region}
        if backup.immutable_days:
            args["ObjectLockEnabledForBucket"] = True  # only possible at creation on most providers
        try:
            s3.create_bucket(**args)
        except ClientError as create_exc:
            if not (backup.immutable_days and _code(create_exc) in UNSUPPORTED_CODES):
                raise StorageError(f"cannot create bucket {bucket}: {_code(create_exc)}") from None
            args.pop("ObjectLockEnabledForBucket")
            s3.create_bucket(**args)
            checks.append(Check("object-lock-at-create", "unsupported", f"provider refused object lock at creation ({_code(create_exc)})"))
        created = True
        checks.append(Check("bucket", "changed", f"created {bucket} in {backup.region}"))
    except BotoCoreError as exc:
        raise StorageError(f"cannot reach {backup.s3_endpoint}: {exc}") from None

    checks.append(_versioning(s3, bucket))
    checks.append(_lifecycle(s3, backup))
    checks.append(_object_lock(s3, backup, created))
    return checks


def _versioning(s3: Any, bucket: str) -> Check:
    from botocore.exceptions import ClientError

    try:
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
            return Check("versioning", "ok", "enabled")
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            return Check("versioning", "unsupported", "accepted but not reported as enabled by the provider")
        return Check("versioning", "changed", "enabled")
    except ClientError as exc:
        state = "unsupported" if _code(exc) in UNSUPPORTED_CODES else "failed"
        return Check("versioning", state, f"provider answered {_code(exc)}: deleted backups cannot be recovered from the bucket")


def _lifecycle(s3: Any, backup: Backup) -> Check:
    from botocore.exceptions import ClientError

    wanted = lifecycle_rules(backup)
    try:
        try:
            current = s3.get_bucket_lifecycle_configuration(Bucket=backup.bucket).get("Rules", [])
        except ClientError as exc:
            if _code(exc) not in ("NoSuchLifecycleConfiguration",):
                raise
            current = []
        ours = {r.get("ID"): r for r in current}
        if all(ours.get(r["ID"], {}).get(k) == v for r in wanted for k, v in r.items() if k != "Filter"):
            return Check("lifecycle", "ok", f"noncurrent versions expire after {wanted[0]['NoncurrentVersionExpiration']['NoncurrentDays']} days")
        others = [r for r in current if not str(r.get("ID", "")).startswith("counselkit-")]
        s3.put_bucket_lifecycle_configuration(Bucket=backup.bucket, LifecycleConfiguration={"Rules": others + wanted})
        return Check("lifecycle", "changed", f"noncurrent versions expire after {wanted[0]['NoncurrentVersionExpiration']['NoncurrentDays']} days; "
                     "incomplete uploads after 7")
    except ClientError as exc:
        state = "unsupported" if _code(exc) in UNSUPPORTED_CODES else "failed"
        return Check("lifecycle", state, f"provider answered {_code(exc)}: old object versions are kept until removed by hand")


def _object_lock(s3: Any, backup: Backup, created: bool) -> Check:
    from botocore.exceptions import ClientError

    if not backup.immutable_days:
        return Check("object-lock", "ok", "not wanted (immutable_days: 0)")
    wanted = {"DefaultRetention": {"Mode": backup.object_lock_mode, "Days": backup.immutable_days}}
    try:
        try:
            current = s3.get_object_lock_configuration(Bucket=backup.bucket).get("ObjectLockConfiguration", {})
        except ClientError as exc:
            if _code(exc) != "ObjectLockConfigurationNotFoundError":
                raise
            current = {}
        retention = current.get("Rule", {}).get("DefaultRetention", {})
        if (current.get("ObjectLockEnabled") == "Enabled" and retention.get("Mode") == backup.object_lock_mode
                and retention.get("Days") == backup.immutable_days and not retention.get("Years")):
            return Check("object-lock", "ok", f"{backup.object_lock_mode}, {backup.immutable_days} days")
        s3.put_object_lock_configuration(
            Bucket=backup.bucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": wanted},
        )
        return Check("object-lock", "changed", f"default retention {backup.object_lock_mode}, {backup.immutable_days} days")
    except ClientError as exc:
        hint = "" if created else " (most providers allow object lock only on buckets created with it: create a new bucket)"
        return Check("object-lock", "unsupported",
                     f"provider answered {_code(exc)}: snapshots are not immutable{hint}")


def prefix_bytes(backup: Backup, credentials: Credentials, prefixes: list[str]) -> dict[str, int]:
    """Bytes stored under each prefix, counting every object version the bucket keeps (what the provider bills)."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(backup, credentials)
    totals = {p: 0 for p in prefixes}
    try:
        for prefix in prefixes:
            paginator = s3.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=backup.bucket, Prefix=f"{prefix}/"):
                totals[prefix] += sum(int(v.get("Size", 0)) for v in page.get("Versions", []))
    except ClientError as exc:
        raise StorageError(f"cannot list bucket {backup.bucket}: {_code(exc)}") from None
    except BotoCoreError as exc:
        raise StorageError(f"cannot reach {backup.s3_endpoint}: {exc}") from None
    return totals
