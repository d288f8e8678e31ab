"""The settings that keep an idle tenant within its memory budget (docs/memory.md, issue 15 point 1): each one is in
what the templates render, and both engines compile Synapse's bytecode with the interpreter flags of its unit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from counselkit import layout, render
from counselkit.components import synapse as synapse_spec
from counselkit.plan import load_plan
from tests.support import REPO, example_data, write_yaml


@pytest.fixture()
def context(tmp_path: Path) -> dict[str, Any]:
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", example_data()))
    return render.host_context(render.host_vars(plan, "node1"), lambda ref: f"secret:{ref}")


def exec_start(context: dict[str, Any]) -> list[str]:
    unit = render.render_host_files(context)[layout.SYNAPSE_UNIT_PATH]
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=").split()


def test_homeserver_keeps_one_database_connection(context: dict[str, Any]) -> None:
    """Each pooled connection is a PostgreSQL backend in the tenant's PSS: one, opened at start and kept."""
    for tenant in context["tenants"]:
        files = render.render_tenant_files(context, tenant["slug"])
        args = YAML(typ="safe").load(files[tenant["homeserver_yaml"]])["database"]["args"]
        assert (args["cp_min"], args["cp_max"]) == (1, 1), tenant["slug"]


def test_unit_runs_synapse_with_the_memory_flags(context: dict[str, Any]) -> None:
    """No docstrings or asserts (-OO), no column tables (-X no_debug_ranges), bytecode from the deploy's cache."""
    words = exec_start(context)
    assert words[0] == f"{layout.SYNAPSE_VENV}/bin/python"
    assert words[1:1 + len(layout.SYNAPSE_PYTHON_FLAGS)] == list(layout.SYNAPSE_PYTHON_FLAGS)
    assert words[1 + len(layout.SYNAPSE_PYTHON_FLAGS):][:2] == ["-m", "synapse.app.homeserver"]
    assert layout.SYNAPSE_PYTHON_FLAGS == ("-OO", "-X", "no_debug_ranges", "-X",
                                           f"pycache_prefix={layout.SYNAPSE_PYCACHE}")


def test_bytecode_is_compiled_by_the_units_interpreter_with_its_flags(context: dict[str, Any]) -> None:
    """Python only uses bytecode of its own optimisation level from its own cache: the compile step must run the
    unit's interpreter with the unit's flags, over the stdlib, the venv and the counselling module."""
    words = exec_start(context)
    compile_ = list(layout.SYNAPSE_BYTECODE_COMPILE)
    assert compile_[0] == words[0]
    flags = list(layout.SYNAPSE_PYTHON_FLAGS)
    assert compile_[2:2 + len(flags)] == flags and compile_[1] == "-I"
    script = compile_[compile_.index("-c") + 1]
    assert "paths['stdlib'], paths['purelib']" in script
    assert compile_[-1] == layout.SYNAPSE_MODULE_ROOT


def test_compile_step_writes_the_bytecode_the_unit_reads(tmp_path: Path) -> None:
    """The compile step's script, run with its flags (the cache moved to tmp_path, roots limited to one module),
    leaves bytecode that the unit's interpreter then loads: without docstrings, from the cache, not recompiled."""
    module_root = tmp_path / "modules"
    module_root.mkdir()
    (module_root / "probe_mod.py").write_text('"""docstring"""\nVALUE = 1\n', encoding="utf-8")
    cache = tmp_path / "cache"
    flags = [w.replace(layout.SYNAPSE_PYCACHE, str(cache)) for w in layout.SYNAPSE_PYTHON_FLAGS]
    compile_ = list(layout.SYNAPSE_BYTECODE_COMPILE)
    # the script compiles stdlib and purelib first: here only the module root (argv), the rest of the script as is
    script = compile_[compile_.index("-c") + 1].replace("(paths['stdlib'], paths['purelib'], *sys.argv[1:])",
                                                        "sys.argv[1:]")
    subprocess.run([sys.executable, "-I", *flags, "-c", script, str(module_root)], check=True)
    (cached,) = cache.rglob("probe_mod*.pyc")
    assert cached.name.endswith(".opt-2.pyc")
    check = ("import sys; sys.path.insert(0, sys.argv[1]); import probe_mod; "
             "print(probe_mod.__doc__, probe_mod.__cached__)")
    out = subprocess.run([sys.executable, "-I", *flags, "-c", check, str(module_root)], check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == ["None", str(cached)]


def test_both_engines_compile_the_bytecode_before_the_restarts(tmp_path: Path) -> None:
    """The Synapse spec (read by deploy/synapse.py and roles/synapse) compiles with the unit's flags whenever the
    release, the module or the template unit changed, and before any instance restarts in either engine."""
    plan = load_plan(write_yaml(tmp_path / "tenants.yaml", example_data()))
    component = synapse_spec.synapse(render.host_vars(plan, "node1"))
    assert layout.SYNAPSE_PYCACHE in [d.path for d in component.directories]
    names = [h.name for h in component.handlers]
    (compile_,) = [h for h in component.handlers if h.argv == layout.SYNAPSE_BYTECODE_COMPILE]
    assert set(compile_.listen) == {synapse_spec.UNIT_TEMPLATE_CHANGED, synapse_spec.RESTART_ALL}
    restarts = [names.index(h.name) for h in component.handlers if h.unit]
    assert restarts and names.index(compile_.name) < min(restarts)  # pyinfra runs handlers in spec order
    # the release install and the module copies trigger RESTART_ALL, the template unit UNIT_TEMPLATE_CHANGED
    assert component.layout["release"]["handler"] == synapse_spec.RESTART_ALL
    assert {c.handler for c in component.copies if c.source.startswith(layout.SYNAPSE_MODULE_SOURCE)} == {
        synapse_spec.RESTART_ALL}
    # Ansible runs the spec's command handlers in one task, before the task that restarts the instances
    tasks = YAML(typ="safe").load((REPO / "roles/synapse/tasks/main.yml").read_text())
    task_names = [t["name"] for t in tasks]
    commands = [i for i, t in enumerate(tasks) if "selectattr('argv')" in str(t.get("loop", ""))]
    units = [i for i, t in enumerate(tasks) if "selectattr('unit')" in str(t.get("loop", ""))]
    assert commands and units and max(commands) < min(units), task_names
