"""The write-once archive of issued originals (GoBD) and of the ledger's pinned head.

Local mode (the default, `pricing.archive.store: local`): a directory next to tenants.yaml,
`<archive>/documents/<period>/<number>.{xml,pdf}` and `<archive>/ledger-head/<seq>.json`. Every file is created
exactly once (hard link of a fully written, fsync'd temporary file: the link fails if the name exists, so no
second writer and no rewrite can replace it), made read-only (0444), and verified against the SHA-256 in the
ledger on every run. This detects every change made without counselkit, but cannot prevent one by a user who
may chmod the files: for retention that nobody can shorten, keep the directory on WORM storage or use S3 object
lock (docs/billing.md says what is implemented).

The head pins make truncating, deleting or rewriting the ledger visible: after each append the run pins the
new head (sequence, number, hash) here, outside the ledger file, and before every run each pin must match the
ledger record at its sequence.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

HEADS = "ledger-head"
DOCUMENTS = "documents"


class ArchiveError(Exception):
    """An archived original or pin is missing, changed or writable: nothing is issued."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Pin:
    seq: int
    number: str
    hash: str


class LocalArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __str__(self) -> str:
        return str(self.root)

    # --- originals ------------------------------------------------------------------------------------
    def document_path(self, period: str, name: str) -> Path:
        return self.root / DOCUMENTS / period / name

    def put(self, period: str, name: str, data: bytes, issued: date | None = None) -> str:
        """Store `data` once; storing the same bytes again is a no-op, other bytes are refused."""
        return self._write_once(self.document_path(period, name), data)

    def verify(self, period: str, name: str, expected_sha: str) -> bytes:
        path = self.document_path(period, name)
        if not path.is_file():
            raise ArchiveError(f"archived original {path} is missing (deleted?); restore it from backup")
        data = path.read_bytes()
        if sha256(data) != expected_sha:
            raise ArchiveError(f"archived original {path} has sha256 {sha256(data)[:16]}…, the ledger recorded "
                               f"{expected_sha[:16]}…: the original was changed")
        if path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise ArchiveError(f"archived original {path} is writable; originals are kept read-only (chmod 0444)")
        return data

    def has(self, period: str, name: str) -> bool:
        return self.document_path(period, name).is_file()

    # --- the ledger's head ----------------------------------------------------------------------------
    def pin(self, pin: Pin) -> None:
        body = json.dumps({"seq": pin.seq, "number": pin.number, "hash": pin.hash}, sort_keys=True) + "\n"
        self._write_once(self.root / HEADS / f"{pin.seq:06d}.json", body.encode("utf-8"))

    def pins(self) -> list[Pin]:
        folder = self.root / HEADS
        if not folder.is_dir():
            return []
        result = []
        for path in sorted(folder.glob("*.json")):
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                pin = Pin(int(raw["seq"]), str(raw["number"]), str(raw["hash"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ArchiveError(f"pinned ledger head {path} is unreadable ({exc})") from None
            if path.name != f"{pin.seq:06d}.json":
                raise ArchiveError(f"pinned ledger head {path} names record {pin.seq}: pins were renamed")
            result.append(pin)
        return sorted(result, key=lambda p: p.seq)

    # --- write once -----------------------------------------------------------------------------------
    def _write_once(self, path: Path, data: bytes) -> str:
        digest = sha256(data)
        if path.exists():
            if sha256(path.read_bytes()) != digest:
                raise ArchiveError(f"{path} already exists with other content; an original is never rewritten")
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, path)  # atomic and fails if the name exists: nobody replaces an original
            except FileExistsError:
                if sha256(path.read_bytes()) != digest:
                    raise ArchiveError(f"{path} was created concurrently with other content") from None
        finally:
            os.unlink(tmp)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest


class S3Archive:
    """The same archive in the platform's S3 bucket, each object under COMPLIANCE object lock.

    Objects are `<prefix>documents/<period>/<name>` and `<prefix>ledger-head/<seq>.json`, written once (a
    conditional put that fails if the key exists, plus a check before it for providers without conditional
    writes) with retain-until = issue date + retention years, so nobody, not even the bucket owner, can delete
    or overwrite an original before then. The bucket must have object lock enabled (`backup provision`
    creates it so)."""

    def __init__(self, s3: object, bucket: str, retention_years: int, prefix: str = "billing-archive/") -> None:
        self.s3, self.bucket, self.retention_years, self.prefix = s3, bucket, retention_years, prefix

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def document_path(self, period: str, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(period, name)}"

    def _key(self, period: str, name: str) -> str:
        return f"{self.prefix}{DOCUMENTS}/{period}/{name}"

    def _get(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - boto3 ClientError; only "no such key" means absent
            if _s3_code(exc) in ("NoSuchKey", "404"):
                return None
            raise ArchiveError(f"s3://{self.bucket}/{key}: {_s3_code(exc)}") from None

    def _put_once(self, key: str, data: bytes, retain_until_year_of: date) -> str:
        from datetime import datetime, timezone

        digest = sha256(data)
        existing = self._get(key)
        if existing is not None:
            if sha256(existing) != digest:
                raise ArchiveError(f"s3://{self.bucket}/{key} already exists with other content; an original is "
                                   "never rewritten")
            return digest
        until = datetime(retain_until_year_of.year + self.retention_years, retain_until_year_of.month,
                         min(retain_until_year_of.day, 28), tzinfo=timezone.utc)
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*",  # type: ignore[attr-defined]
                               ChecksumAlgorithm="SHA256", ObjectLockMode="COMPLIANCE",
                               ObjectLockRetainUntilDate=until)
        except Exception as exc:  # noqa: BLE001
            raise ArchiveError(f"cannot archive s3://{self.bucket}/{key}: {_s3_code(exc)} (object lock enabled on "
                               "the bucket? `counselkit backup provision` sets it up)") from None
        return digest

    def put(self, period: str, name: str, data: bytes, issued: date | None = None) -> str:
        return self._put_once(self._key(period, name), data, issued or date.today())

    def has(self, period: str, name: str) -> bool:
        return self._get(self._key(period, name)) is not None

    def verify(self, period: str, name: str, expected_sha: str) -> bytes:
        key = self._key(period, name)
        data = self._get(key)
        if data is None:
            raise ArchiveError(f"archived original s3://{self.bucket}/{key} is missing")
        if sha256(data) != expected_sha:
            raise ArchiveError(f"archived original s3://{self.bucket}/{key} has sha256 {sha256(data)[:16]}…, the "
                               f"ledger recorded {expected_sha[:16]}…: the original was changed")
        try:  # HeadObject reports the lock of the current version (GetObjectRetention needs the same right)
            head = self.s3.head_object(Bucket=self.bucket, Key=key)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            raise ArchiveError(f"s3://{self.bucket}/{key}: {_s3_code(exc)}") from None
        if head.get("ObjectLockMode") != "COMPLIANCE" or not head.get("ObjectLockRetainUntilDate"):
            raise ArchiveError(f"s3://{self.bucket}/{key} is not under COMPLIANCE object lock "
                               f"({head.get('ObjectLockMode') or 'no lock'})")
        return data

    def pin(self, pin: Pin) -> None:
        body = json.dumps({"seq": pin.seq, "number": pin.number, "hash": pin.hash}, sort_keys=True) + "\n"
        self._put_once(f"{self.prefix}{HEADS}/{pin.seq:06d}.json", body.encode("utf-8"), date.today())

    def pins(self) -> list[Pin]:
        result = []
        paginator = self.s3.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{HEADS}/"):
            for item in page.get("Contents", []):
                data = self._get(item["Key"])
                try:
                    raw = json.loads(data or b"")
                    result.append(Pin(int(raw["seq"]), str(raw["number"]), str(raw["hash"])))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ArchiveError(f"pinned ledger head s3://{self.bucket}/{item['Key']} is unreadable ({exc})") from None
        return sorted(result, key=lambda p: p.seq)


def _s3_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__
