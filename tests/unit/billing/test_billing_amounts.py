"""Amounts: golden files for both modes, proration edge cases, exact cost-sharing rounding."""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counselkit.billing.compute import compute_documents
from counselkit.billing.money import cents, split_exact
from counselkit.billing.period import Period, active_service
from counselkit.billing.usage import GB, StorageUsage, started_gb
from counselkit.load import load_inventory
from counselkit.plan import load_plan

GOLDEN = Path(__file__).parent / "golden"

ISSUE = date(2026, 12, 1)


def _amounts(path: Path, period: str, usage: StorageUsage | None = None) -> dict:
    inventory, plan = load_inventory(path), load_plan(path)
    docs = compute_documents(inventory, plan, Period.parse(period), usage or StorageUsage("none"), ISSUE)
    return {
        doc.buyer.slug: {
            "service": f"{doc.service_start}..{doc.service_end}",
            "lines": [[line.description, str(line.quantity), str(line.unit_price), str(line.net)] for line in doc.lines],
            "net": str(doc.net_total), "vat_category": doc.vat_category, "vat_rate": str(doc.vat_rate),
            "vat": str(doc.vat_total), "gross": str(doc.gross_total), "exemption": doc.vat_exemption_reason,
        }
        for doc in docs
    }


def _golden(name: str, actual: dict) -> None:
    path = GOLDEN / name
    text = json.dumps(actual, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path} missing; run with UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text(encoding="utf-8")


def test_saas_golden(saas_file: Path) -> None:
    _golden("saas-2026-11.json", _amounts(saas_file, "2026-11"))


def test_saas_golden_with_measured_storage(saas_file: Path) -> None:
    usage = StorageUsage("backup-status", {"awo-kiel": 12 * GB + 1, "diakonie-luebeck": 10 * GB, "skf-husum": 0})
    amounts = _amounts(saas_file, "2026-11", usage)
    _golden("saas-2026-11-storage.json", amounts)
    # 12 GB + 1 byte = 13 started GB, quota 10 -> 3 GB x 0.40
    assert amounts["awo-kiel"]["lines"][2][1:] == ["3", "0.4", "1.20"]
    assert amounts["diakonie-luebeck"]["lines"][2][3] == "0.00"


def test_cost_sharing_golden(exempt_sharing_file: Path) -> None:
    amounts = _amounts(exempt_sharing_file, "2026-11")
    _golden("cost-sharing-2026-11.json", amounts)
    assert all(a["vat_category"] == "E" and a["vat"] == "0.00" for a in amounts.values())
    assert all("§ 4 Nr. 29 UStG" in a["exemption"] for a in amounts.values())


def test_cost_sharing_shares_add_up_to_costs(sharing_file: Path) -> None:
    amounts = _amounts(sharing_file, "2026-11")
    total = sum(Decimal(a["net"]) for a in amounts.values())
    assert total == Decimal("189.00") + Decimal("23.57") + Decimal("510.00")
    for index, item in enumerate([Decimal("189.00"), Decimal("23.57"), Decimal("510.00")]):
        assert sum(Decimal(a["lines"][index][3]) for a in amounts.values()) == item


def test_saas_mid_month_start_is_prorated(saas_file: Path) -> None:
    husum = _amounts(saas_file, "2026-11")["skf-husum"]  # starts 2026-11-10: 21 of 30 days
    assert husum["service"] == "2026-11-10..2026-11-30"
    assert husum["lines"][0][2:] == ["62.30", "62.30"]  # 89.00 x 21/30
    assert husum["lines"][1][1:] == ["4", "4.55", "18.20"]  # 6.50 x 21/30 = 4.55, x 4 seats
    assert (husum["net"], husum["vat"], husum["gross"]) == ("80.50", "15.30", "95.80")


def test_tenant_not_yet_started_gets_no_invoice(saas_file: Path) -> None:
    assert "skf-husum" not in _amounts(saas_file, "2026-10")
    assert "diakonie-luebeck" not in _amounts(saas_file, "2026-02")


@pytest.mark.parametrize(("period", "start", "end", "days", "total"), [
    ("2026-01", date(2026, 1, 31), None, 1, 31),  # start on the 31st: one day
    ("2026-03", date(2026, 3, 31), None, 1, 31),
    ("2026-11", date(2026, 1, 1), date(2026, 11, 15), 15, 30),  # end mid-month, inclusive
    ("2026-11", date(2026, 11, 15), date(2026, 11, 15), 1, 30),  # one-day contract
    ("2028-02", date(2028, 2, 1), None, 29, 29),  # leap year February
    ("2028-02", date(2028, 2, 29), None, 1, 29),  # start on leap day
    ("2026-02", date(2026, 2, 14), None, 15, 28),
    ("2026-12", date(2025, 1, 1), date(2026, 12, 31), 31, 31),  # ends on the last day: full month
])
def test_proration_edges(period: str, start: date, end: date | None, days: int, total: int) -> None:
    p = Period.parse(period)
    service = active_service(p, start, end)
    assert service is not None and service.days == days and p.days == total


def test_contract_outside_period() -> None:
    assert active_service(Period.parse("2026-11"), date(2026, 12, 1), None) is None
    assert active_service(Period.parse("2026-11"), date(2026, 1, 1), date(2026, 10, 31)) is None


def test_end_mid_month_amount(saas_file: Path) -> None:
    text = saas_file.read_text(encoding="utf-8").replace("contract: {start: 2026-01-01, plan: lite}",
                                                         "contract: {start: 2026-01-01, end: 2026-11-15, plan: lite}")
    saas_file.write_text(text, encoding="utf-8")
    kiel = _amounts(saas_file, "2026-11")["awo-kiel"]
    assert kiel["lines"][0][2:] == ["44.50", "44.50"]  # 89.00 x 15/30
    assert kiel["lines"][1][1:] == ["12", "3.25", "39.00"]  # 6.50 x 15/30
    assert "awo-kiel" not in _amounts(saas_file, "2026-12")


def test_leap_year_amount(saas_file: Path) -> None:
    text = saas_file.read_text(encoding="utf-8").replace("start: 2026-11-10", "start: 2028-02-15")
    saas_file.write_text(text, encoding="utf-8")
    husum = _amounts(saas_file, "2028-02")["skf-husum"]  # 15 of 29 days
    assert husum["lines"][0][2] == str(cents(Decimal("89.00") * 15 / 29)) == "46.03"


def test_started_gb() -> None:
    assert [started_gb(n) for n in (0, 1, GB, GB + 1, 10 * GB)] == [0, 1, 1, 2, 10]


def test_split_exact_largest_remainder() -> None:
    assert split_exact(Decimal("100.00"), {"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)}) == {
        "a": Decimal("33.34"), "b": Decimal("33.33"), "c": Decimal("33.33")}
    assert split_exact(Decimal("0.01"), {"a": Decimal(1), "b": Decimal(1)}) == {"a": Decimal("0.01"), "b": Decimal("0.00")}
    with pytest.raises(ValueError):
        split_exact(Decimal("1"), {})


@settings(max_examples=300, deadline=None)
@given(
    total=st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False),
    weights=st.lists(st.decimals(min_value=Decimal("0.01"), max_value=1000, places=4), min_size=1, max_size=30),
)
def test_split_exact_always_sums(total: Decimal, weights: list[Decimal]) -> None:
    parts = split_exact(total, {f"t{i:02d}": w for i, w in enumerate(weights)})
    assert sum(parts.values()) == total
    weight_sum = sum(weights)
    for i, w in enumerate(weights):  # no part is a cent or more away from its exact share
        assert abs(parts[f"t{i:02d}"] - total * w / weight_sum) < Decimal("0.01")


def test_money_never_float() -> None:
    with pytest.raises(TypeError):
        cents(1.1)  # type: ignore[arg-type]
