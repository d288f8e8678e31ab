"""The bad-input corpus (tests/unit/data/bad, made by make_corpus.py): every hostile file gets a clear message
naming file, line and field — never a traceback, never a crash — through the same path `counselkit validate` takes."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from counselkit.plan import load_plan
from counselkit.problems import InputError, Problem
from tests.support import EXAMPLE, REPO

BAD = Path(__file__).parent / "data" / "bad"
EXPECTED: dict[str, dict] = json.loads((BAD / "expected.json").read_text(encoding="utf-8"))


def problems_of(tenants: Path) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_plan(tenants)
    return caught.value.problems


def test_every_corpus_file_has_an_expectation() -> None:
    files = {p.name for p in BAD.iterdir() if p.suffix in (".yaml", ".json") and p.name != "expected.json"}
    assert files == set(EXPECTED)


def _check(found: list[Problem], file: Path, expected: dict) -> None:
    match = [p for p in found if p.field == expected["field"] and expected["words"] in p.message]
    assert match, found
    assert all(p.file == str(file) for p in found)
    assert match[0].line == expected["line"], (match[0], expected)
    assert all("\n" not in str(p) for p in found)  # hostile keys and values cannot forge output lines


IN_SUBPROCESS = {"alias_bomb.yaml"}  # a regression would eat gigabytes: checked under a memory limit below


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.endswith(".yaml") and n not in IN_SUBPROCESS))
def test_bad_tenants_file(name: str) -> None:
    _check(problems_of(BAD / name), BAD / name, EXPECTED[name])


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.endswith(".json")))
def test_bad_lock_file(tmp_path: Path, name: str) -> None:
    tenants = tmp_path / "tenants.yaml"
    shutil.copyfile(EXAMPLE, tenants)
    lock = tmp_path / "tenants.lock.json"
    shutil.copyfile(BAD / name, lock)
    _check(problems_of(tenants), lock, EXPECTED[name])


def test_example_lock_is_accepted() -> None:
    plan = load_plan(EXAMPLE)
    assert {t.slug: t.synapse_port for t in plan.tenants()} == {"awo-kiel": 8101, "diakonie-luebeck": 8102, "skf-husum": 8103}


def _validate_in_subprocess(path: Path) -> subprocess.CompletedProcess[str]:
    """A separate process with 2 GB of address space and a time limit: if the parser crashed or an alias bomb
    exploded again, this test fails instead of taking pytest (or the machine) down."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run([sys.executable, "-m", "counselkit.cli", "validate", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, preexec_fn=limit)


def test_alias_bomb_is_refused_quickly() -> None:
    path = BAD / "alias_bomb.yaml"
    expected = EXPECTED["alias_bomb.yaml"]
    assert path.stat().st_size < 700
    result = _validate_in_subprocess(path)
    assert result.returncode == 1, result
    assert f"{path}:{expected['line']}:" in result.stderr and expected["words"] in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "column"), [("[" * 100_000, 65), ("{a: " * 100_000, 257), ("- " * 100_000, 129)])
def test_deep_nesting_is_refused_without_a_crash(tmp_path: Path, text: str, column: int) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    result = _validate_in_subprocess(path)
    assert result.returncode == 1, result
    assert f"{path}:1:{column}: (file): invalid YAML: nested more than 64 levels deep" in result.stderr
    assert "Traceback" not in result.stderr


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text("# padding\n" * 1_700_000, encoding="utf-8")
    found = problems_of(path)
    assert len(found) == 1 and "at most" in found[0].message and found[0].line == 0
