"""Input validation for billing: Leitweg-ID check digits, ISO 3166 countries, refusal without the official rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

import counselkit.billing.validate as validate_module
from counselkit.billing.commands import billing
from counselkit.billing.leitweg import check_digits, leitweg_problem
from counselkit.billing.ledger import ledger_path
from counselkit.billing.period import Period
from counselkit.billing.run import run_period
from counselkit.billing.validate import RulesMissing, Validator
from counselkit.load import load_inventory
from counselkit.problems import InputError

NOV = Period.parse("2026-11")
ISSUE = date(2026, 12, 1)


@pytest.mark.parametrize("value", ["04011000-1234512345-06", "991-99012-32", "991-33333TEST-33",
                                   "99661-WEBSERVICEOZG-28", "991-03215-12"])
def test_valid_leitweg_ids(value: str) -> None:
    assert leitweg_problem(value) is None


@pytest.mark.parametrize(("value", "message"), [
    ("04011000-1234512345-05", "wrong check digit"),
    ("991-03215-44", "it is 12"),  # the example's former value
    ("04-AWO-KIEL-2026", "is not a Leitweg-ID"),
    ("1-12345-67", "is not a Leitweg-ID"),  # coarse part has at least two digits
    ("991-" + "A" * 31 + "-00", "is not a Leitweg-ID"),
    ("991-03215", "is not a Leitweg-ID"),  # no check digits
])
def test_invalid_leitweg_ids(value: str, message: str) -> None:
    assert message in (leitweg_problem(value) or "")


def test_check_digits_round_trip() -> None:
    assert f"991-03215-{check_digits('991', '03215')}" == "991-03215-12"


def test_model_refuses_wrong_check_digit(saas_file: Path) -> None:
    saas_file.write_text(saas_file.read_text(encoding="utf-8").replace('"991-03215-12"', '"991-03215-44"'),
                         encoding="utf-8")
    with pytest.raises(InputError, match=r"tenants\[1\]\.billing\.leitweg_id.*wrong check digit"):
        load_inventory(saas_file)


def test_example_leitweg_id_valid_and_sent(saas_file: Path, any_validator: Validator) -> None:
    result = run_period(saas_file, NOV, issue_date=ISSUE, validator=any_validator)
    luebeck = etree.parse(str(result.issued[1].xml_file))
    assert luebeck.findtext(".//{*}BuyerReference") == "991-03215-12"


@pytest.mark.parametrize(("country", "ok"), [("DE", True), ("AT", True), ("XX", False), ("EU", False), ("de", False)])
def test_country_codes_from_the_iso_list(saas_file: Path, country: str, ok: bool) -> None:
    text = saas_file.read_text(encoding="utf-8").replace('postcode: "24114", city: Kiel}',
                                                         f'postcode: "24114", city: Kiel, country: {country}}}')
    saas_file.write_text(text, encoding="utf-8")
    if ok:
        assert load_inventory(saas_file).tenants[0].billing.address.country == country
    else:
        with pytest.raises(InputError, match="ISO 3166-1 alpha-2"):
            load_inventory(saas_file)


def test_missing_rules_refuse_to_issue(saas_file: Path, tmp_path: Path) -> None:
    without = Validator(base=tmp_path / "no-rules")
    with pytest.raises(RulesMissing, match="--xsd-only"):
        run_period(saas_file, NOV, issue_date=ISSUE, validator=without)
    assert not ledger_path(saas_file).exists() and not (saas_file.parent / "invoices").exists()
    allowed = Validator(base=tmp_path / "no-rules", xsd_only_allowed=True)
    assert len(run_period(saas_file, NOV, issue_date=ISSUE, validator=allowed).issued) == 3


def test_cli_refuses_without_rules_unless_xsd_only(saas_file: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(validate_module.ENV_VAR, str(tmp_path / "no-rules"))
    monkeypatch.setattr(validate_module, "_shared", None)
    runner = CliRunner()
    args = ["run", "--period", "2026-11", "--file", str(saas_file), "--issue-date", "2026-12-01"]
    refused = runner.invoke(billing, args)
    assert refused.exit_code != 0 and "nothing is issued" in refused.output and "Traceback" not in refused.output
    assert not ledger_path(saas_file).exists()
    issued = runner.invoke(billing, args + ["--xsd-only"])
    assert issued.exit_code == 0, issued.output
    assert "RE-000003" in issued.output
    monkeypatch.setattr(validate_module, "_shared", None)
