"""Billing history: a past month bills the plan, seats and prices that were valid then."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from counselkit.billing.compute import TenantBillingError, compute_documents
from counselkit.billing.period import Period
from counselkit.billing.usage import StorageUsage
from counselkit.load import load_inventory
from counselkit.plan import load_plan
from counselkit.problems import InputError

KIEL_CONTRACT = "contract: {start: 2026-01-01, plan: lite}"
PRICES = "      lite: {monthly_fee: 89.00, seat_fee: 6.50, storage_quota_gb: 10, storage_fee_per_gb: 0.40}\n"


def _kiel(path: Path, period: str, issue: date) -> dict:
    docs = compute_documents(load_inventory(path), load_plan(path), Period.parse(period), StorageUsage("none"), issue)
    return next(d for d in docs if d.buyer.slug == "awo-kiel")


def _with_history(path: Path) -> Path:
    text = path.read_text(encoding="utf-8")
    text = text.replace(KIEL_CONTRACT, "contract:\n      start: 2026-01-01\n      plan: lite\n      history:\n"
                        "        - {until: 2026-09-30, plan: lite, seats: 10}\n")
    text = text.replace(PRICES, PRICES + "    price_history:\n      - until: 2026-09-30\n        plans:\n"
                        "          lite: {monthly_fee: 79.00, seat_fee: 6.00, storage_quota_gb: 10, storage_fee_per_gb: 0.40}\n")
    path.write_text(text, encoding="utf-8")
    return path


def test_past_month_bills_past_terms(saas_file: Path) -> None:
    _with_history(saas_file)
    september = _kiel(saas_file, "2026-09", date(2026, 10, 1))
    assert [(line.quantity, line.unit_price) for line in september.lines[:2]] == [
        (Decimal("1"), Decimal("79.00")), (Decimal("10"), Decimal("6.00"))]
    assert september.net_total == Decimal("139.00")
    october = _kiel(saas_file, "2026-10", date(2026, 11, 2))
    assert [(line.quantity, line.unit_price) for line in october.lines[:2]] == [
        (Decimal("1"), Decimal("89.00")), (Decimal("12"), Decimal("6.50"))]


def test_history_must_be_in_order(saas_file: Path) -> None:
    _with_history(saas_file)
    text = saas_file.read_text(encoding="utf-8").replace(
        "        - {until: 2026-09-30, plan: lite, seats: 10}\n",
        "        - {until: 2026-09-30, plan: lite, seats: 10}\n        - {until: 2026-03-31, plan: lite, seats: 4}\n")
    saas_file.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="date order"):
        load_inventory(saas_file)


def test_past_plan_without_price_is_refused(saas_file: Path) -> None:
    _with_history(saas_file)
    saas_file.write_text(saas_file.read_text(encoding="utf-8").replace("{until: 2026-09-30, plan: lite, seats: 10}",
                                                                       "{until: 2026-09-30, plan: pro, seats: 10}"),
                         encoding="utf-8")
    with pytest.raises(TenantBillingError, match="awo-kiel: plan 'pro'"):
        _kiel(saas_file, "2026-09", date(2026, 10, 1))
