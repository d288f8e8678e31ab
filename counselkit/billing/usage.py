"""Measured usage per tenant. Seats come from the plan; storage bytes from `backup status` when available.

Usage is never typed in by hand: there is no option and no file format for it. The only storage source is the
backup subsystem (`counselkit.backup.status.storage_bytes(plan) -> dict[str, int]`); until that module exists,
the source is "none", storage above quota is billed as 0, and every invoice and the CSV say it was not measured.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

if TYPE_CHECKING:
    from ..plan import Plan

GB = 10**9  # storage is billed per started gigabyte (SI, 10^9 bytes)


@dataclass(frozen=True)
class StorageUsage:
    source: str  # "backup-status" or "none"
    bytes_by_slug: dict[str, int] = field(default_factory=dict)
    why_not: str = ""  # with source "none": why storage was not measured

    @property
    def measured(self) -> bool:
        return self.source != "none"

    def bytes_for(self, slug: str) -> int | None:
        return self.bytes_by_slug.get(slug) if self.measured else None


def storage_usage(plan: "Plan", source: str = "auto", tenants_file: "Path | None" = None) -> StorageUsage:
    """Storage bytes per tenant slug.

    `source`: "backup-status" (measure, or fail), "auto" (measure when the secrets store holds the backup
    credentials and the bucket answers; otherwise say why not and bill no storage), or "none".
    """
    if source == "none":
        return StorageUsage("none", why_not="usage source 'none' chosen")
    if source not in ("auto", "backup-status"):
        raise ValueError(f"unknown usage source '{source}'; allowed: auto, backup-status, none")
    try:
        measured = _measure(plan, tenants_file)
    except Exception as exc:  # noqa: BLE001 — classified below
        # "auto" bills no storage only when measuring is not set up (no backup module, no credentials). A
        # configured bucket that fails to answer is an error: billing 0 GB because S3 was down is wrong.
        if source == "backup-status" or _storage_error(exc):
            raise ValueError(f"cannot measure storage from the backups: {exc}; retry, or bill without storage "
                             "knowingly with --usage none") from None
        return StorageUsage("none", why_not=str(exc))
    clean = {str(slug): int(value) for slug, value in measured.items()}
    if any(value < 0 for value in clean.values()):
        raise ValueError("backup status reported a negative storage size")
    return StorageUsage("backup-status", clean)


def _measure(plan: "Plan", tenants_file: "Path | None") -> dict[str, int]:
    status = importlib.import_module("counselkit.backup.status")
    from ..secrets import SecretStore

    if tenants_file is None:
        raise ValueError("no tenants.yaml to find the secrets store from")
    store = SecretStore.open(tenants_file, plan.platform.secrets_file)
    return status.storage_bytes(plan, store=store)


def _storage_error(exc: Exception) -> bool:
    try:
        from ..backup.s3 import StorageError
    except ImportError:
        return False
    return isinstance(exc, StorageError)


def recorded_usage(bytes_by_slug: dict[str, int | None]) -> StorageUsage:
    """The usage an issued invoice billed, so a re-run compares with what was billed, not with today's bucket."""
    measured = {slug: n for slug, n in bytes_by_slug.items() if n is not None}
    return StorageUsage("recorded", measured) if measured else StorageUsage("none", why_not="not measured then")


def started_gb(nbytes: int) -> int:
    """Started gigabytes: 1 byte counts as 1 GB, exactly 10^9 bytes as 1 GB."""
    return -(-nbytes // GB)
