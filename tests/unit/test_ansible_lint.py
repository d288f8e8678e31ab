"""The Ansible side is lint-clean (ansible-lint production profile, yamllint), and a role with a component spec
spells none of its lists (packages, paths, units): it reads them from the spec, as the pyinfra deploy does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The vault-password client (ansible.cfg) has no fallback password; linting decrypts nothing, so any value does.
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
       "NO_COLOR": "1", "COUNSELKIT_VAULT_PASSWORD": "lint-decrypts-nothing"}
LINTED = ["roles", "site.yml"]


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900)


def test_yamllint_clean():
    result = run([str(BIN / "yamllint"), "-s", "-f", "parsable", *LINTED, "inventories/ansible", ".ansible-lint", ".yamllint"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile_clean():
    result = run([str(BIN / "ansible-lint"), "--nocolor", "-p", "--profile", "production", *LINTED])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def defaults(role: str) -> dict:
    return YAML(typ="safe").load((REPO / "roles" / role / "defaults" / "main.yml").read_text())


SPEC_ROLES = {"hardening": ("hardening", "apt"), "postgresql": ("postgresql",), "synapse": ("synapse",),
              "nginx": ("nginx",), "backup": ("backup",), "keycloak": ("keycloak",)}
# Role defaults that are an engine's own choice, not a spec list (documented in the role's argument spec)
ENGINE_CHOICES = {"keycloak_with_archive"}


@pytest.mark.parametrize("role", sorted(SPEC_ROLES))
def test_spec_role_spells_no_list_of_the_component_spec(role: str):
    """Every input of a spec role is read from its component spec (counselkit/components, hostvar
    counselkit_components): no package, directory, file, mode or unit is written in the role's YAML."""
    for name, value in defaults(role).items():
        if name in ENGINE_CHOICES:
            continue
        assert isinstance(value, str) and value.startswith("{{ counselkit_components."), f"{name}: {value!r}"
        assert value.split(".")[1] in SPEC_ROLES[role], f"{name} reads another role's component: {value}"
    specs = YAML(typ="safe").load((REPO / "roles" / role / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(defaults(role)) <= set(options)
    assert not [name for name, option in options.items() if "default" in option], "defaults live in the spec"
    # what the role runs with (not meta/: galaxy names and descriptions, not molecule/: the lab's test)
    values = set(scalars([YAML(typ="safe").load(p.read_text()) for p in (REPO / "roles" / role).rglob("*.yml")
                          if p.parts[len((REPO / "roles" / role).parts)] in ("tasks", "defaults", "vars", "handlers")]))
    from counselkit.components.registry import host_components
    from counselkit.plan import load_plan
    from counselkit.render import host_vars

    plan = load_plan(REPO / "tenants.yaml")
    for component in SPEC_ROLES[role]:
        spec = host_components(host_vars(plan, plan.hosts[0]))[component]
        spelled = {*spec.packages, *(d.path for d in spec.directories), *(f.dest for f in spec.files), *spec.absent,
                   *(s.unit for s in spec.services), *(h.unit for h in spec.handlers if h.unit)}
        assert not spelled & values, f"spelled in roles/{role}: {sorted(spelled & values)}"


def scalars(data: object) -> list[str]:
    """Every string value (and list item) of parsed YAML."""
    if isinstance(data, dict):
        return [s for value in data.values() for s in scalars(value)]
    if isinstance(data, list):
        return [s for item in data for s in scalars(item)]
    return [data] if isinstance(data, str) else []


def test_every_role_is_complete_and_copies_no_template():
    for role in ("hardening", "postgresql", "synapse", "nginx", "keycloak", "backup"):
        path = REPO / "roles" / role
        for needed in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "tasks/main.yml", "README.md",
                       "molecule/default/molecule.yml", "molecule/default/converge.yml"):
            assert (path / needed).is_file(), f"roles/{role}/{needed} missing"
        copies = [p for p in path.rglob("*.j2")] + list((path / "templates").glob("*")) if (path / "templates").exists() \
            else list(path.rglob("*.j2"))
        assert not copies, f"roles/{role} holds its own templates {copies}: render templates/ (the shared ones)"


def role_tasks(tasks_dir: Path, name: str) -> list[dict]:
    """The role's tasks in run order, with its static `import_tasks` files expanded in place."""
    expanded = []
    for task in YAML(typ="safe").load((tasks_dir / name).read_text()):
        imported = task.get("ansible.builtin.import_tasks")
        expanded += role_tasks(tasks_dir, imported) if imported else [task]
    return expanded


def test_hardening_probes_nft_after_installing_it():
    """The CAP_NET_ADMIN probe (`nft list tables`) must run after the packages: on a fresh host nft comes with them,
    and a probe before would leave nftables unchecked and unstarted on the first run."""
    tasks = role_tasks(REPO / "roles/hardening/tasks", "main.yml")
    probe = next(i for i, t in enumerate(tasks) if t.get("register") == "hardening_net_admin_probe")
    packages = next(i for i, t in enumerate(tasks)
                    if (t.get("ansible.builtin.apt") or {}).get("name") == "{{ hardening_packages }}")
    assert packages < probe
