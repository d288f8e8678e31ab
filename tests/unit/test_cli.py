"""The command line as a user meets it: exit codes, messages, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from counselkit import layout
from tests.support import REPO

COUNSELKIT = [sys.executable, "-m", "counselkit.cli"]


def run(*args: str, cwd: Path = REPO, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COUNSELKIT, *args], cwd=cwd, capture_output=True, text=True, input=stdin, timeout=120)


def test_validate_example_ok() -> None:
    result = run("validate")
    assert result.returncode == 0 and "valid — 3 tenants on 1 host" in result.stdout


def test_validate_five_mistakes() -> None:
    result = run("validate", "tests/unit/data/five_mistakes.yaml")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "five_mistakes.yaml:" in line]
    assert [line.split(":")[1] for line in lines] == ["8", "28", "31", "33", "35"]
    assert "5 problems found." in result.stderr and "Traceback" not in result.stderr


def test_garbage_file_gives_message_not_traceback(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage: [")
    result = run("validate", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr and str(path) in result.stderr


def test_plan_json_is_machine_readable() -> None:
    result = run("plan", "--json")
    assert result.returncode == 0
    plan = json.loads(result.stdout)
    assert [t["synapse_port"] for t in plan["hosts"][0]["tenants"]] == [8101, 8102, 8103]


def test_plan_table_lists_every_tenant() -> None:
    result = run("plan")
    assert result.returncode == 0
    for slug in ("awo-kiel", "diakonie-luebeck", "skf-husum"):
        assert f"{slug}.beratung.example.org" in result.stdout


def test_committed_schema_is_current() -> None:
    result = run("schema")
    assert result.returncode == 0
    assert result.stdout == (REPO / "tenants.schema.json").read_text(encoding="utf-8"), "run: counselkit schema -o tenants.schema.json"
    assert "yaml-language-server: $schema=./tenants.schema.json" in (REPO / "tenants.yaml").read_text(encoding="utf-8")


def test_secrets_never_printed(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text((REPO / "tenants.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "pw").chmod(0o600)
    env_cmd = ["env", f"COUNSELKIT_VAULT_PASSWORD_FILE={tmp_path / 'pw'}"]
    ensure = subprocess.run([*env_cmd, *COUNSELKIT, "secrets", "ensure", str(tenants)], capture_output=True, text=True, cwd=REPO)
    wanted = len(layout.PLATFORM_SECRETS) + 3 * len(layout.TENANT_SECRETS)
    assert ensure.returncode == 0 and f"{wanted} secrets created" in ensure.stdout
    stored = subprocess.run([*env_cmd, *COUNSELKIT, "secrets", "set", "platform.backup_s3_access_key", "--file", str(tenants)],
                            capture_output=True, text=True, cwd=REPO, input="AKIAEXAMPLE\n")
    assert stored.returncode == 0 and "AKIAEXAMPLE" not in stored.stdout + stored.stderr
    listed = subprocess.run([*env_cmd, *COUNSELKIT, "secrets", "list", str(tenants)], capture_output=True, text=True, cwd=REPO)
    assert "platform.backup_s3_access_key" in listed.stdout and "AKIAEXAMPLE" not in listed.stdout
    assert "platform.backup_s3_secret_key  (missing: from your provider" in listed.stdout


def _commands(group, prefix=()):  # every (path, command) of the CLI tree, lazy groups included
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_names_its_tenants_file_one_way() -> None:
    """One option for the tenants file (counselkit/options.py): --tenants FILE, $COUNSELKIT_TENANTS; no command
    defines its own."""
    from counselkit.cli import cli

    with_tenants = []
    for path, command in _commands(cli):
        names = {p.name for p in command.params}
        assert "tenants_file" not in names, f"{' '.join(path)} defines its own tenants file parameter"
        if "tenants_option_value" in names:
            option = next(p for p in command.params if p.name == "tenants_option_value")
            assert "--tenants" in option.opts, path
            with_tenants.append(" ".join(path))
    for expected in ("validate", "plan", "prepare", "tenant add", "secrets ensure", "secrets set", "secrets list",
                     "audit", "access report", "billing run", "billing credit-note", "billing ledger",
                     "backup provision", "backup status", "backup run", "backup restore", "demo"):
        assert expected in with_tenants, expected


def test_tenants_from_option_env_or_position(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from counselkit.cli import cli

    missing = tmp_path / "missing.yaml"
    runner = CliRunner()
    for args, env in ((["validate", "--tenants", str(missing)], {}), (["validate", str(missing)], {}),
                      (["validate"], {"COUNSELKIT_TENANTS": str(missing)}),
                      (["billing", "ledger"], {"COUNSELKIT_TENANTS": str(missing)}),  # billing ignored the env before
                      (["billing", "ledger", "--tenants", str(missing)], {}),
                      (["billing", "ledger", "--file", str(missing)], {})):  # the older flag still works
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code != 0 and str(missing) in str(result.output) + str(result.exception), (args, result.output)
    both = runner.invoke(cli, ["plan", "a.yaml", "--tenants", "b.yaml"])
    assert both.exit_code == 2 and "two tenants files given" in both.output
