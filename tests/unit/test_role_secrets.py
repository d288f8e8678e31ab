"""No Ansible task of any role shows a secret: every task that renders or passes one has `no_log: true`, and every
one that writes a file with a secret (or proxy credentials) has `diff: false`, so `--diff` and `-v` print nothing
of it (issue 13.10). Found by reading the roles and the templates they render, not from a hand-kept list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from counselkit import render
from counselkit.components.registry import host_components
from counselkit.plan import load_plan

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
FILE_MODULES = {"ansible.builtin.template", "ansible.builtin.copy"}
# A Jinja expression naming a secret value (not a path such as password_file).
SECRET_EXPRESSION = re.compile(r"\{\{[^}]*\b\w*(secret|password)\w*\b(?<!_file)[^}]*\}\}")
PROXY_EXPRESSION = re.compile(r"\{\{[^}]*\bproxy\b[^}]*\}\}")  # platform.proxy may be http://user:password@host
SECRET_LOOKUP = "counselkit_secret"  # the filter that reads one value from the vault


NESTING = ("block", "rescue", "always")


def tasks_in(node: Any) -> Iterator[dict]:
    for task in node or []:
        yield task
        for key in NESTING:
            yield from tasks_in(task.get(key))


def role_tasks() -> Iterator[tuple[str, dict, dict[str, Any]]]:
    """(where, task, the role's vars/main.yml) of every task file of every role."""
    yaml = YAML(typ="safe")
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        role_vars_file = path.parents[1] / "vars" / "main.yml"
        role_vars = {**role_defaults(path.parents[1]),
                     **((yaml.load(role_vars_file.read_text()) or {}) if role_vars_file.exists() else {})}
        for task in tasks_in(yaml.load(path.read_text())):
            yield f"{path.relative_to(REPO)}: {task.get('name')}", task, role_vars


def secret_variables() -> set[str]:
    """Role variables whose value is a secret read from the vault (e.g. keycloak_db_password)."""
    yaml = YAML(typ="safe")
    names = set()
    for path in ROLES.glob("*/vars/main.yml"):
        for name, value in (yaml.load(path.read_text()) or {}).items():
            if f"{SECRET_LOOKUP}(" in str(value):
                names.add(name)
    return names


def module_of(task: dict) -> str | None:
    return next((key for key in task if key.startswith("ansible.builtin.")), None)


# Every conditional file wanted (platform.proxy and report mail with a relay password), so every file is audited.
ALL_CONDITIONS = {"platform": {"proxy": "http://user:password@proxy.invalid:3128",
                               "reports": {"password_ref": "platform.smtp_password"}}}
SPEC_DEFAULT = re.compile(r"\{\{ counselkit_components\.(\w+)\.(\w+) \}\}")


def all_components() -> dict[str, Any]:
    """The component specs of the example's first host with every condition of ALL_CONDITIONS."""
    plan = load_plan(REPO / "tenants.yaml")
    vars = render.host_vars(plan, plan.hosts[0])
    vars["platform"].update(ALL_CONDITIONS["platform"])
    return host_components(vars)


def role_defaults(role_dir: Path) -> dict[str, Any]:
    path = role_dir / "defaults" / "main.yml"
    return (YAML(typ="safe").load(path.read_text()) or {}) if path.exists() else {}


def loop_items(task: dict, role_vars: dict[str, Any]) -> Any:
    """A task's loop as data: a literal list, a role variable, or a role default naming a component spec list
    (counselkit/components, as the inventory plugin delivers it), optionally filtered by sensitive."""
    loop = task.get("loop")
    named = re.fullmatch(r"\{\{ (\w+)((?: \| (?:select|reject)attr\([^)]*\))*) \}\}", loop) \
        if isinstance(loop, str) else None
    if not named:
        return loop
    name, filters = named.groups()
    spec = SPEC_DEFAULT.fullmatch(str(role_vars.get(name, "")))
    if spec:
        items = all_components()[spec.group(1)].as_data()[spec.group(2)]
    elif name in role_vars:
        items = role_vars[name]
    else:
        return loop
    # truthiness filters are applied; a comparison with an expression (rejectattr('context', 'equalto', x)) is not:
    # the task is then audited for more templates than it renders, never fewer
    for how, attr in re.findall(r"(select|reject)attr\('(\w+)'\)", filters):
        items = [item for item in items if bool(item[attr]) == (how == "select")]
    return items


def rendered_templates(task: dict, role_vars: dict[str, Any]) -> list[Path]:
    """The files of templates/ a template task renders (resolving the loops the roles use)."""
    src = str(task["ansible.builtin.template"]["src"]).replace("{{ counselkit_templates }}/", "")
    loop = loop_items(task, role_vars)
    if "{{ item.template }}" in src:
        names = [src.replace("{{ item.template }}", item["template"]) for item in loop]
    elif src == "{{ item }}":
        names = list(loop)
    else:
        names = [src]
    assert all("{{" not in name for name in names), f"cannot resolve template {src}: teach this test the new loop"
    return [render.TEMPLATES_DIR / name for name in names]


def passes_secret(task: dict, variables: set[str]) -> bool:
    # A block's own tasks are audited one by one.
    body = str({k: v for k, v in task.items() if k not in ("name", "register", "when", "loop_control", *NESTING)})
    return re.search(rf"\b{SECRET_LOOKUP}\b", body) is not None or "secret_values" in body or any(re.search(rf"(?<![.\w]){v}\b", body) for v in variables)


def audited() -> list[tuple[str, dict, bool, bool]]:
    """(where, task, holds a secret, writes credentials into a file) of every task of every role."""
    variables = secret_variables()
    found = []
    for where, task, role_vars in role_tasks():
        module = module_of(task)
        texts = [p.read_text() for p in rendered_templates(task, role_vars)] if module == "ansible.builtin.template" else []
        secret = passes_secret(task, variables) or any(SECRET_EXPRESSION.search(t) for t in texts)
        credentials = module in FILE_MODULES and (secret or any(PROXY_EXPRESSION.search(t) for t in texts))
        found.append((where, task, secret, credentials))
    return found


def test_the_audit_finds_the_known_secret_files() -> None:
    secret = {where.split(": ", 1)[1] for where, _, holds, _ in audited() if holds}
    for expected in ("Each tenant's homeserver.yaml",
                     "Synapse OIDC provider per tenant (Keycloak; client secret, 0600)",
                     "Environment and bootstrap admin files (secrets)",
                     "Database SQL (SCRAM verifier, not the password; root only)",
                     "Restic passwords", "Each job's restic.env (the S3 credentials)", "Tenant database roles (SCRAM verifier from the control machine, drift repaired)",
                     "Internal CA certificate (trusted on the host), tenants' certificates and keys",
                     "Hardening files with secrets (msmtprc - the relay password)"):
        assert expected in secret


@pytest.mark.parametrize("where, task, secret, credentials", audited(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_task_shows_a_secret(where: str, task: dict, secret: bool, credentials: bool) -> None:
    if secret:
        assert task.get("no_log") is True, f"{where}: handles a secret but has no `no_log: true`"
    if credentials:
        assert task.get("diff") is False, f"{where}: writes a secret into a file but has no `diff: false`"
