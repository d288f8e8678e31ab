"""Where the official e-invoice rules are found: ../shared/einvoice beside a clone (CI's layout), also from a git
worktree of that clone; the official-rule tests never skip when they are there."""

from __future__ import annotations

from pathlib import Path

import pytest

from counselkit.billing import validate


def rules_at(root: Path) -> Path:
    for relative in (validate.EN16931_CII_XSLT, validate.CII_XSD, validate.XRECHNUNG_CII_SCH):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("")
    return root


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv(validate.ENV_VAR, raising=False)


def test_a_clean_clone_finds_the_rules_beside_it(tmp_path):
    clone = tmp_path / "counselkit"
    (clone / ".git").mkdir(parents=True)
    shared = rules_at(tmp_path / "shared" / "einvoice")
    assert validate.rules_dir(clone) == shared and validate.rules_available(validate.rules_dir(clone))


def test_a_worktree_finds_the_rules_beside_its_main_checkout(tmp_path):
    main = tmp_path / "main"
    (main / ".git" / "worktrees" / "x").mkdir(parents=True)
    worktree = tmp_path / "wt" / "x"
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'x'}\n")
    shared = rules_at(tmp_path / "shared" / "einvoice")
    assert validate.rules_candidates(worktree) == [tmp_path / "wt" / "shared" / "einvoice", shared]
    assert validate.rules_dir(worktree) == shared


def test_without_rules_the_first_place_is_named(tmp_path):
    clone = tmp_path / "counselkit"
    clone.mkdir()
    assert validate.rules_dir(clone) == tmp_path / "shared" / "einvoice"
    assert not validate.rules_available(validate.rules_dir(clone))


def test_the_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(validate.ENV_VAR, str(tmp_path / "elsewhere"))
    assert validate.rules_candidates() == [tmp_path / "elsewhere"]


def test_this_checkout_with_shared_beside_it_runs_the_official_rules(request):
    """Where ../shared/ is beside this checkout (CI, and the development machine), the rules are found and the
    official validator is built: the 7 official-rule tests run, none skips."""
    if not any(c.parent.is_dir() for c in validate.rules_candidates()):
        pytest.skip("no ../shared/ beside this checkout: a clean clone without CI's layout")
    validator = request.getfixturevalue("official_validator")
    assert validator.official and "XRechnung CII Schematron (KoSIT .sch, compiled by counselkit)" in validator.rule_sets
