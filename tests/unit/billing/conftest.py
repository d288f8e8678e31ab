"""Shared fixtures: example inventories in a temp dir, one validator (rules compiled once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from counselkit.billing.validate import RULES_MISSING, Validator, rules_available, rules_candidates

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "tenants.yaml"
GOLDEN = Path(__file__).parent / "golden"

COST_SHARING = """
  pricing:
    mode: cost_sharing
    currency: EUR
    payment_terms_days: 30
    invoice_prefix: UM
    cost_sharing:
      key: seats
      monthly_costs:
        - {description: "Server node1 (Miete)", amount: 189.00}
        - {description: "Objektspeicher Backups", amount: 23.57}
        - {description: "Betrieb und Wartung, 6 Stunden à 85,00 EUR", amount: 510.00}
"""


# The operator's declaration of every condition of § 4 Nr. 29 UStG (see docs/billing.md), for an Umlage that
# really is an exempt cost reimbursement of an association to its members.
DECLARATION_4_29 = """
    vat_exemption:
      basis: ustg_4_nr_29
      declared_by: Anna Petersen (Geschäftsführung), geprüft mit Steuerberaterin
      declared_on: 2026-01-02
      conditions:
        independent_association: true
        buyers_are_members: true
        members_exempt_activity: true
        used_directly_for_it: true
        exact_reimbursement: true
        no_distortion_of_competition: true
"""


def saas_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def cost_sharing_text() -> str:
    text = saas_text()
    start = text.index("  pricing:\n")
    end = text.index("\ntenants:")
    return text[:start] + COST_SHARING.strip("\n") + "\n" + text[end:]


@pytest.fixture
def saas_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(saas_text(), encoding="utf-8")
    return path


@pytest.fixture
def sharing_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(cost_sharing_text(), encoding="utf-8")
    return path


def exempt_sharing_text() -> str:
    text = cost_sharing_text()
    return text.replace("    invoice_prefix: UM\n", "    invoice_prefix: UM\n" + DECLARATION_4_29.strip("\n") + "\n")


@pytest.fixture
def exempt_sharing_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(exempt_sharing_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def official_validator() -> Validator:
    if not rules_available():
        looked = ", ".join(str(c) for c in rules_candidates())
        # CI has ../shared/ beside the clone: there (or with CI set), missing rules are a failure, never a skip.
        if os.environ.get("CI") or any(c.parent.is_dir() for c in rules_candidates()):
            pytest.fail(f"{RULES_MISSING} (looked in {looked}); a run with ../shared/ must check the official rules")
        pytest.skip(f"{RULES_MISSING} (looked in {looked})")
    return Validator(official=True)


@pytest.fixture(scope="session")
def any_validator() -> Validator:
    """Official rules when present, else XSD only (for tests about the ledger, not about the rules)."""
    return Validator(xsd_only_allowed=True)
