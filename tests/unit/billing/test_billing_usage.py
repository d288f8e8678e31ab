"""Storage usage: stored with the invoice and reused by re-runs; a failing bucket is an error, not 0 GB."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

import counselkit.billing.run as run_module
import counselkit.billing.usage as usage_module
from counselkit.backup.s3 import StorageError
from counselkit.billing.ledger import Ledger, ledger_path
from counselkit.billing.period import Period
from counselkit.billing.run import run_period
from counselkit.billing.usage import GB, StorageUsage, storage_usage
from counselkit.billing.validate import Validator
from counselkit.plan import load_plan

NOV = Period.parse("2026-11")
ISSUE = date(2026, 12, 1)


def _measuring(monkeypatch: pytest.MonkeyPatch, sizes: dict[str, int]) -> None:
    monkeypatch.setattr(run_module, "storage_usage", lambda *a, **k: StorageUsage("backup-status", dict(sizes)))


def test_usage_stored_with_invoice_and_rerun_uses_it(saas_file: Path, any_validator: Validator,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _measuring(monkeypatch, {"awo-kiel": 13 * GB, "diakonie-luebeck": 2 * GB, "skf-husum": 0})
    first = run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    kiel = Ledger(ledger_path(saas_file)).load().records[0].document
    assert kiel.storage_bytes == 13 * GB and kiel.lines[2].net == first.issued[0].document.lines[2].net != 0
    _measuring(monkeypatch, {"awo-kiel": 40 * GB, "diakonie-luebeck": 2 * GB, "skf-husum": 5})  # bucket grew since
    again = run_period(saas_file, NOV, issue_date=date(2027, 1, 10), validator=any_validator)
    assert [i.new for i in again.issued] == [False, False, False]
    assert again.issued[0].document.lines[2].quantity == 3  # still the billed 13 GB - 10 GB quota


def test_failing_bucket_is_an_error_not_zero(saas_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(plan, tenants_file):  # noqa: ANN001, ANN202
        raise StorageError("bucket nordlicht-beratung-backups: AccessDenied")

    monkeypatch.setattr(usage_module, "_measure", broken)
    with pytest.raises(ValueError, match="AccessDenied.*--usage none"):
        storage_usage(load_plan(saas_file), "auto", saas_file)
    assert storage_usage(load_plan(saas_file), "none", saas_file).measured is False


def test_unconfigured_measuring_bills_no_storage(saas_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_set_up(plan, tenants_file):  # noqa: ANN001, ANN202
        raise FileNotFoundError("no secrets store")

    monkeypatch.setattr(usage_module, "_measure", not_set_up)
    usage = storage_usage(load_plan(saas_file), "auto", saas_file)
    assert not usage.measured and "no secrets store" in usage.why_not
