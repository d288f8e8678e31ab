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

    def put(self, period: str, name: str, data: bytes) -> str:
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
