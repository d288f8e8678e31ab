"""No input may crash the loader: whatever the bytes, the answer is a model or an InputError with positions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from counselkit.load import load_inventory
from counselkit.problems import InputError
from counselkit.yamlsource import parse_yaml
from counselkit.load import validate_document
from tests.support import example_data

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                    st.dates().map(str))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=20)


def check(text: str) -> None:
    try:
        doc = parse_yaml(text, Path("fuzz.yaml"))
    except InputError as exc:
        assert exc.problems and all(p.file == "fuzz.yaml" for p in exc.problems)
        return
    inventory, problems = validate_document(doc)
    assert (inventory is None) == bool(problems)
    for problem in problems:
        assert problem.message and problem.line >= 0


@SETTINGS
@given(st.text(max_size=400))
def test_any_text(text: str) -> None:
    check(text)


@SETTINGS
@given(st.lists(st.sampled_from(["platform:", "tenants:", "  - slug: x", "  domain: a.b", "    - {", "&a", "*a", "!!python/object x",
                                 ": :", "\t", "- [", "? x", "'", '"', "%YAML 1.2", "---", "...", "  hosts: [", "#c"]),
                max_size=25).map("\n".join))
def test_yaml_shaped_text(text: str) -> None:
    check(text)


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, prefix + (index,))
    return found


EXAMPLE = example_data()
ALL_PATHS = [p for p in paths(EXAMPLE) if p]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), values), min_size=1, max_size=3))
def test_example_with_values_replaced(replacements: list[tuple[tuple, Any]]) -> None:
    """Swap any part of a valid file for any value: a clean answer every time."""
    from ruamel.yaml import YAML
    from io import StringIO

    data = copy.deepcopy(EXAMPLE)
    for path, value in replacements:
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    buffer = StringIO()
    YAML(typ="safe").dump(data, buffer)
    check(buffer.getvalue())


def test_loader_on_disk_with_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_bytes(b"platform: \xc3\x28\n")
    try:
        load_inventory(path)
    except InputError as exc:
        assert "cannot read" in exc.problems[0].message
    else:
        raise AssertionError("invalid UTF-8 must be rejected")
