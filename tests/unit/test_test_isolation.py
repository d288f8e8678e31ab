"""Tests leave the process environment as they found it (docs/testing.md "Test order").

A static scan of tests/: every write to os.environ (item assignment, del, update, setdefault, pop, clear, |=,
os.putenv/unsetenv) must be undone. Accepted are writes inside `with environment_kept(...)` (tests/support.py) and,
in a module with an autouse fixture that yields inside `with environment_kept(NAMES)`, writes of those names (or of
a mapping whose keys the scan cannot see). Everything else uses pytest's monkeypatch.setenv, which restores itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
KEEPER = "environment_kept"
MUTATORS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) \
        and node.value.id == "os"


def _keeper_call(item: ast.withitem) -> ast.Call | None:
    call = item.context_expr
    if isinstance(call, ast.Call):
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
        if name == KEEPER:
            return call
    return None


def _kept_names(call: ast.Call) -> set[str] | None:
    """The names a keeper call restores; None when they are not all literals (e.g. `*self.env`)."""
    if all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args):
        return {a.value for a in call.args}
    return None


def _writes(tree: ast.AST) -> list[tuple[ast.AST, str | None]]:
    """(node, the variable written if the scan can name it) for every environment write in the tree."""
    found: list[tuple[ast.AST, str | None]] = []

    def key(node: ast.AST) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            if isinstance(target, ast.Subscript) and _is_environ(target.value):
                found.append((node, key(target.slice)))
            elif _is_environ(target):  # os.environ |= {...} or os.environ = {...}
                found.append((node, None))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if _is_environ(func.value) and func.attr in MUTATORS:
                first = key(node.args[0]) if node.args and func.attr in ("setdefault", "pop", "__setitem__") else None
                found.append((node, first))
            elif func.attr in ("putenv", "unsetenv") and isinstance(func.value, ast.Name) and func.value.id == "os":
                found.append((node, key(node.args[0]) if node.args else None))
    return found


def _autouse_kept(tree: ast.Module) -> set[str] | None:
    """Names restored by the module's autouse fixtures that yield inside environment_kept (None: any name)."""
    kept: set[str] = set()
    for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        autouse = any(isinstance(d, ast.Call) and any(k.arg == "autouse" and getattr(k.value, "value", False)
                                                      for k in d.keywords) for d in function.decorator_list)
        if not autouse:
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.With) and any(isinstance(s, ast.Expr) and isinstance(s.value, ast.Yield)
                                                  for s in node.body):
                for item in node.items:
                    if (call := _keeper_call(item)) is not None:
                        names = _kept_names(call)
                        if names is None:
                            return None
                        kept |= names
    return kept


def unrestored_writes(source: str, filename: str = "<test>") -> list[str]:
    """`file:line` of each environment write the scan cannot see undone."""
    tree = ast.parse(source, filename)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    autouse = _autouse_kept(tree)
    problems = []
    for node, name in _writes(tree):
        restored = False
        parent = parents.get(node)
        while parent is not None and not restored:
            if isinstance(parent, ast.FunctionDef) and parent.name == KEEPER:
                restored = True  # the keeper's own restoring writes
            elif isinstance(parent, ast.With):
                for item in parent.items:
                    call = _keeper_call(item)
                    names = _kept_names(call) if call is not None else set()
                    restored |= call is not None and (names is None or name is None or name in names)
            parent = parents.get(parent)
        if not restored:  # the module's autouse keeper: any name (None), or the names it lists
            restored = autouse is None or (bool(autouse) and (name is None or name in autouse))
        if not restored:
            problems.append(f"{filename}:{node.lineno}")
    return problems


def test_no_test_module_leaves_the_environment_changed() -> None:
    problems = [p for path in sorted(TESTS.rglob("*.py")) if "node_modules" not in path.parts
                for p in unrestored_writes(path.read_text(encoding="utf-8"), str(path.relative_to(TESTS.parent)))]
    assert problems == [], "os.environ written without restoring (use monkeypatch.setenv or environment_kept): " \
                           + ", ".join(problems)


BARE = [
    'import os\ndef make():\n    os.environ["COUNSELKIT_VAULT_PASSWORD_FILE"] = "/tmp/p"\n',
    'import os\ndef f(env):\n    os.environ.update(env)\n',
    'import os\nos.environ.setdefault("X", "1")\n',
    'import os\ndef f():\n    del os.environ["X"]\n',
    'import os\ndef f():\n    os.environ |= {"X": "1"}\n',
    'import os\ndef f():\n    os.putenv("X", "1")\n',
    # kept, but another name than the one written
    'import os\ndef f():\n    with environment_kept("A"):\n        os.environ["B"] = "1"\n',
    # an autouse fixture keeps A; the module writes B
    'import os, pytest\n@pytest.fixture(scope="module", autouse=True)\ndef kept():\n'
    '    with environment_kept("A"):\n        yield\ndef f():\n    os.environ["B"] = "1"\n',
    # a fixture that keeps the name but is not autouse does not cover the module
    'import os, pytest\n@pytest.fixture(scope="module")\ndef kept():\n'
    '    with environment_kept("A"):\n        yield\ndef f():\n    os.environ["A"] = "1"\n',
]
RESTORED = [
    'import os\ndef f(env):\n    with environment_kept(*env):\n        os.environ.update(env)\n',
    'import os\ndef f():\n    with environment_kept("A"):\n        os.environ["A"] = "1"\n',
    'import os, pytest\n@pytest.fixture(scope="module", autouse=True)\ndef kept():\n'
    '    with environment_kept("A"):\n        yield\ndef f():\n    os.environ["A"] = "1"\n',
    'def test(monkeypatch):\n    monkeypatch.setenv("A", "1")\n',
    'import os\ndef f():\n    return {**os.environ, "A": "1"}\n',  # a copy for a child process, not a write
]


@pytest.mark.parametrize("source", BARE)
def test_scan_finds_an_unrestored_write(source: str) -> None:
    assert unrestored_writes(source) != []


@pytest.mark.parametrize("source", RESTORED)
def test_scan_accepts_restored_writes_and_copies(source: str) -> None:
    assert unrestored_writes(source) == []
