"""Both engines receive the same components, host by host (issue 14.1: one component spec, two engines): base
hardening, PostgreSQL and nginx.

pyinfra side: the operations deploy/base.py (deploy/postgres.py, deploy/nginx.py) creates from the spec for a host of the pyinfra inventory's host data
(apt.packages, directory, put_template, files.file, systemd.service are recorded instead of run).
Ansible side: the role's inputs (roles/hardening/defaults/main.yml) as ansible-playbook resolves them against the
hostvars of the counselkit_plan inventory plugin — what the role's tasks loop over — checked against the role's
argument spec (meta/argument_specs.yml) as on role entry.
Compared: packages, directories (owner, group, mode), files (template, destination, owner, group, mode), removed
files and units — for the example tenants.yaml and for it with platform.proxy and report mail (every condition).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from counselkit import layout, render
from counselkit.plan import load_plan
from deploy import base as deploy_base
from deploy import components as deploy_components
from deploy import nginx as deploy_nginx
from deploy import postgres as deploy_postgres
from tests.support import REPO, example_data, write_yaml

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
       "NO_COLOR": "1", "COUNSELKIT_VAULT_PASSWORD": "decrypts-nothing"}
ROLES = ("hardening", "postgresql", "nginx")
ROLE_INPUTS = ("hardening_apt_files", "hardening_apt_absent", "hardening_packages", "hardening_directories",
               "hardening_files", "hardening_absent", "hardening_handlers", "hardening_services",
               "hardening_unwanted_services",
               "postgresql_packages", "postgresql_files", "postgresql_handlers", "postgresql_services",
               "postgresql_psql", "postgresql_maintenance_dbs",
               "nginx_packages", "nginx_directories", "nginx_files", "nginx_handlers", "nginx_services",
               "nginx_stock_site", "nginx_ca_certificate", "nginx_certificates", "nginx_acme", "nginx_webapp")


def tenants(tmp_path: Path, every_condition: bool) -> Path:
    data = example_data()
    if every_condition:
        data["platform"]["proxy"] = "http://proxy.example.org:3128"
        data["platform"]["smtp"] = {"host": "smtp.example.org", "from_address": "noreply@beratung.example.org",
                                    "user": "mailer", "reports_to": "ops@beratung.example.org"}
        data["platform"]["hosts"].append({**data["platform"]["hosts"][0], "name": "node2", "address": "203.0.113.11"})
        data["platform"]["tls"] = "acme"
        data["platform"]["acme_email"] = "ops@beratung.example.org"
    return write_yaml(tmp_path / "tenants.yaml", data)


class Recorder:
    """Stands in for the pyinfra operations deploy/base.py calls; records what each is given."""

    def __init__(self) -> None:
        self.packages: set[str] = set()
        self.directories: set[tuple[str, str, str, str]] = set()
        self.files: set[tuple[str, str, str, str, str]] = set()
        self.tenant_files: set[tuple[str, str, str]] = set()  # (template, destination, slug) of per-tenant files
        self.absent: set[str] = set()
        self.units: set[str] = set()
        self.unwanted: list[str] = []
        self.checks: list[str] = []  # handler checks and commands, in order
        self.links_absent: set[str] = set()
        self.from_secrets: set[tuple[str, str]] = set()  # (destination, mode) of files cut from secrets
        self.acme: list[list[str]] = []
        self.copied: set[tuple[str, str, str]] = set()  # (source on the control machine, destination, mode)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        recorder = self

        class Op:
            did_change = staticmethod(lambda: True)

        class Apt:
            @staticmethod
            def packages(name: str, packages: list[str], **_: Any) -> Op:
                recorder.packages.update(packages)
                return Op()

        class Files:
            @staticmethod
            def file(name: str, path: str, present: bool) -> Op:
                assert present is False
                recorder.absent.add(path)
                return Op()

            @staticmethod
            def line(**_: Any) -> Op:
                return Op()

            @staticmethod
            def put(name: str, src: str, dest: str, mode: str, **_: Any) -> Op:
                recorder.copied.add((src, dest, mode.lstrip("0")))
                return Op()

            @staticmethod
            def link(name: str, path: str, present: bool) -> Op:
                assert present is False
                recorder.links_absent.add(path)
                return Op()

        class Systemd:
            @staticmethod
            def service(name: str, service: str, **_: Any) -> Op:
                recorder.units.add(service)
                return Op()

            @staticmethod
            def daemon_reload(**_: Any) -> Op:
                return Op()

        class Server:
            @staticmethod
            def shell(name: str, commands: list[str], **_: Any) -> Op:
                recorder.checks.extend(commands)
                return Op()

        def directory(name: str, path: str, user: str, group: str, mode: str) -> Op:
            recorder.directories.add((path, user, group, mode.lstrip("0")))
            return Op()

        def put_template(template: str, dest: str, user: str, group: str, mode: str,
                         ctx: dict[str, Any] | None = None) -> Op:
            recorder.files.add((template, dest, user, group, mode.lstrip("0")))
            if ctx is not None:
                recorder.tenant_files.add((template, dest, ctx["tenant"]["slug"]))
            return Op()

        def put(name: str, dest: str, content: str, mode: str = "644", **_: Any) -> Op:
            assert content.startswith("-----BEGIN ")  # a PEM part cut from the secret
            recorder.from_secrets.add((dest, mode.lstrip("0")))
            return Op()

        def acme_certificate(name: str, argv: list[str], cert_path: str) -> Op:
            recorder.acme.append(argv)
            return Op()

        for name, value in (("apt", Apt), ("files", Files), ("systemd", Systemd), ("server", Server),
                            ("directory", directory), ("put_template", put_template),
                            ("any_changed", lambda *ops: lambda: False)):
            monkeypatch.setattr(deploy_components, name, value)
        for name, value in (("files", Files), ("put", put), ("acme_certificate", acme_certificate),
                            ("in_container", lambda: False)):
            monkeypatch.setattr(deploy_nginx, name, value)
        monkeypatch.setattr(deploy_postgres, "in_container", lambda: False)

        class Host:  # SystemdStatus: the units the host has
            @staticmethod
            def get_fact(*_: Any, **__: Any) -> dict[str, bool]:
                return {unit: True for unit in recorder.unwanted}

        monkeypatch.setattr(deploy_components, "host", Host)


def pem_bundle(ref: str) -> str:
    """A stand-in for a secret PEM bundle (key, then certificate)."""
    return (f"-----BEGIN PRIVATE KEY-----\n{ref}\n-----END PRIVATE KEY-----\n"
            f"-----BEGIN CERTIFICATE-----\n{ref}\n-----END CERTIFICATE-----\n")


def pyinfra_side(monkeypatch: pytest.MonkeyPatch, host_vars: dict[str, Any], installed: list[str]) -> Recorder:
    """What deploy/base.py's apt_setup() and base() hand to pyinfra from the spec (on a real host, no container;
    `installed`: the unwanted units the host has)."""
    recorder = Recorder()
    with monkeypatch.context() as patch:
        recorder.install(patch)
        recorder.unwanted = installed
        apt_spec = deploy_base.base_spec.apt_setup(host_vars)
        spec = deploy_base.base_spec.hardening(host_vars)
        deploy_base.install_files(apt_spec, container=False)
        deploy_base.install_packages(spec)
        deploy_base.install_directories(spec)
        deploy_base.install_files(spec, container=False)
    return recorder


def component_side(monkeypatch: pytest.MonkeyPatch, host_vars: dict[str, Any], deploy: Any) -> Recorder:
    """What one packaged deploy (deploy/postgres.py's or deploy/nginx.py's, run without pyinfra's deploy wrapper)
    hands to pyinfra for a host; the tenants' roles and databases are not spec entries and are left out."""
    recorder = Recorder()
    ctx = render.host_context(host_vars, None)
    with monkeypatch.context() as patch:
        recorder.install(patch)
        for module in (deploy_components, deploy_nginx, deploy_postgres):
            if hasattr(module, "host_vars"):
                patch.setattr(module, "host_vars", lambda: host_vars)
            if hasattr(module, "context"):
                patch.setattr(module, "context", lambda: ctx)
        patch.setattr(deploy_nginx, "secret", pem_bundle)
        patch.setattr(deploy_nginx, "missing_files", lambda paths: [])  # the bundle need not be built for this
        patch.setattr(deploy_postgres, "tenant_role", lambda **_: None)
        patch.setattr(deploy_postgres, "revoke_public_connect", lambda **_: None)
        patch.setattr(deploy_postgres.postgres, "database", lambda **_: None)
        deploy.__wrapped__()
    return recorder


def ansible_side(tmp_path: Path, tenants_file: Path, plan: Any) -> dict[str, dict[str, Any]]:
    """The roles' inputs per host (hardening, postgresql, nginx), resolved by ansible-playbook from the plugin's
    hostvars and checked against each role's argument spec."""
    sys.path.insert(0, str(REPO / "inventories/ansible/plugins/inventory"))
    from counselkit_plan import host_data

    options = {}
    for role in ROLES:
        specs = YAML(typ="safe").load((REPO / "roles" / role / "meta/argument_specs.yml").read_text())
        options.update({name: option for name, option in specs["argument_specs"]["main"]["options"].items()
                        if name.startswith(f"{role}_")})
    plays = []
    for host_plan in plan.hosts:
        hostvars = tmp_path / f"hostvars-{host_plan.name}.json"
        hostvars.write_text(json.dumps(host_data(plan, host_plan, tenants_file)))
        dump = "{{ {" + ", ".join(f"'{name}': {name}" for name in ROLE_INPUTS) + "} | to_json }}"
        plays.append({"hosts": "localhost", "connection": "local", "gather_facts": False,
                      "vars_files": [str(hostvars), *(str(REPO / "roles" / role / "defaults/main.yml") for role in ROLES)],
                      "tasks": [{"name": "the role's argument spec accepts them (as on role entry)",
                                 "ansible.builtin.validate_argument_spec": {
                                     "argument_spec": options,
                                     "provided_arguments": {name: f"{{{{ {name} }}}}" for name in options}}},
                                {"name": "role inputs", "ansible.builtin.copy": {
                          "content": dump, "dest": str(tmp_path / f"inputs-{host_plan.name}.json"), "mode": "0600"}}]})
    playbook = tmp_path / "inputs.yml"
    playbook.write_text(json.dumps(plays))
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)], cwd=REPO, env=ENV,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {h.name: json.loads((tmp_path / f"inputs-{h.name}.json").read_text()) for h in plan.hosts}


def plan_and_role_inputs(tmp_path: Path, every_condition: bool) -> tuple[Any, dict[str, dict[str, Any]]]:
    tenants_file = tenants(tmp_path, every_condition)
    plan = load_plan(tenants_file)
    return plan, ansible_side(tmp_path, tenants_file, plan)


@pytest.mark.parametrize("every_condition", [False, True], ids=["example", "proxy-and-report-mail"])
def test_both_engines_receive_the_same_base_hardening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      every_condition: bool) -> None:
    plan, role = plan_and_role_inputs(tmp_path, every_condition)
    assert len(plan.hosts) == (2 if every_condition else 1)
    for host_plan in plan.hosts:
        inputs = role[host_plan.name]
        # the pyinfra inventory's host data (inventories/common.py): render.host_vars of the same plan
        ours = pyinfra_side(monkeypatch, render.host_vars(plan, host_plan), installed=["cups.service"])
        files = inputs["hardening_apt_files"] + inputs["hardening_files"]
        assert ours.packages == set(inputs["hardening_packages"]), host_plan.name
        assert ours.directories == {(d["path"], d["owner"], d["group"], d["mode"].lstrip("0"))
                                    for d in inputs["hardening_directories"]}, host_plan.name
        assert ours.files == {(f["template"], f["dest"], f["owner"], f["group"], f["mode"].lstrip("0"))
                              for f in files}, host_plan.name
        assert ours.absent == set(inputs["hardening_apt_absent"] + inputs["hardening_absent"]), host_plan.name
        # units: the spec's, the handlers' (the recorder reports every file as changed) and the unwanted one present
        assert ours.units == ({s["unit"] for s in inputs["hardening_services"]}
                              | {h["unit"] for h in inputs["hardening_handlers"] if h["unit"]} | {"cups.service"}), host_plan.name
        assert "cups.service" in inputs["hardening_unwanted_services"]
        # and the conditions were decided: the files are exactly the wanted host templates of base/
        wanted = {dest for name, dest in render.wanted_host_templates(render.host_vars(plan, host_plan)).items()
                  if name.startswith("base/")}
        assert {f["dest"] for f in files} == wanted
        if every_condition:
            assert {"msmtp-mta", "bsd-mailx"} <= ours.packages and not ours.absent
        else:
            assert not {"msmtp-mta", "bsd-mailx"} & ours.packages and len(ours.absent) == 3


def files_of(items: list[dict[str, Any]]) -> set[tuple[str, str, str, str, str]]:
    return {(f["template"], f["dest"], f["owner"], f["group"], f["mode"].lstrip("0")) for f in items}


def handled_units(inputs: dict[str, Any], role: str) -> set[str]:
    return {h["unit"] for h in inputs[f"{role}_handlers"] if h["unit"]}


@pytest.mark.parametrize("every_condition", [False, True], ids=["example-internal-ca", "acme-two-hosts"])
def test_both_engines_receive_the_same_postgresql_and_nginx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            every_condition: bool) -> None:
    plan, role = plan_and_role_inputs(tmp_path, every_condition)
    for host_plan in plan.hosts:
        inputs = role[host_plan.name]
        host_vars = render.host_vars(plan, host_plan)

        pg = component_side(monkeypatch, host_vars, deploy_postgres.postgresql)
        assert pg.packages == set(inputs["postgresql_packages"]) == {"postgresql-15"}
        assert pg.files == files_of(inputs["postgresql_files"])
        assert {f[1] for f in pg.files} == {dest for name, dest in render.HOST_TEMPLATES.items()
                                            if name.startswith("postgres/")}
        assert pg.units == {s["unit"] for s in inputs["postgresql_services"]} | handled_units(inputs, "postgresql")
        # the psql both engines run is one argv (layout.POSTGRES_PSQL)
        assert deploy_postgres.psql("SELECT 1").split() == ["cd", "/", "&&", *inputs["postgresql_psql"], "-c", "'SELECT",
                                                            "1'"]
        assert inputs["postgresql_maintenance_dbs"] == ["postgres", "template1"]

        web = component_side(monkeypatch, host_vars, deploy_nginx.nginx)
        assert web.packages == set(inputs["nginx_packages"])
        assert web.directories == {(d["path"], d["owner"], d["group"], d["mode"].lstrip("0"))
                                   for d in inputs["nginx_directories"]}
        assert web.files == files_of(inputs["nginx_files"])
        assert web.tenant_files == {(f["template"], f["dest"], f["tenant"]) for f in inputs["nginx_files"]
                                    if f["tenant"]}
        assert web.links_absent == {inputs["nginx_stock_site"]["path"]}
        secrets = ([inputs["nginx_ca_certificate"]] if inputs["nginx_ca_certificate"] else []) + inputs["nginx_certificates"]
        assert web.from_secrets == {(c["dest"], c["mode"].lstrip("0")) for c in secrets}
        assert web.acme == [a["argv"] for a in inputs["nginx_acme"]]
        assert web.copied == {(e["src"], e["dest"], e["mode"].lstrip("0")) for e in inputs["nginx_webapp"]}
        assert {(e["tenant"], e["dest"].rsplit("/", 1)[1]) for e in inputs["nginx_webapp"]} == \
            {(t["slug"], name) for t in host_vars["tenants"]
             for name in layout.WEBAPP_BUNDLE + layout.WEBAPP_PRECOMPRESSED}
        assert web.units == {s["unit"] for s in inputs["nginx_services"]} | handled_units(inputs, "nginx")
        # nginx -t before the reload, once (the recorder reports every operation as changed)
        checks = [" ".join(h["check"]) for h in inputs["nginx_handlers"] if h["check"]]
        assert checks == ["nginx -t -q"] and web.checks.count("nginx -t -q") == 1
        tenants_here = [t["slug"] for t in host_vars["tenants"]]
        assert sorted({f[2] for f in web.tenant_files}) == sorted(tenants_here)
        if every_condition:
            assert web.packages == {"nginx", "certbot"} and len(web.acme) == len(tenants_here) and not web.from_secrets
            assert "update-ca-certificates" not in web.checks
        else:
            assert web.packages == {"nginx"} and not web.acme
            assert len(web.from_secrets) == 1 + 2 * len(tenants_here)  # the CA, each tenant's certificate and key
            assert (deploy_nginx.nginx_spec.layout.INTERNAL_CA_CERT, "644") in web.from_secrets
            assert "update-ca-certificates" in web.checks


def test_both_engines_ship_the_counselling_module_and_restart_synapse_on_its_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/synapse.py install_module() and roles/synapse put the same files (content, owner, mode) at the same
    paths, and both restart the tenants' Synapse when one of them changed."""
    from counselkit import layout
    from deploy import synapse as deploy_synapse

    sys.path.insert(0, str(REPO / "inventories/ansible/plugins/inventory"))
    from counselkit_plan import host_data

    puts: dict[str, tuple[str, str, str, str]] = {}
    dirs: set[str] = set()
    monkeypatch.setattr(deploy_synapse, "put", lambda name, dest, content, user="root", group="root", mode="644":
                        puts.setdefault(dest, (content, user, group, mode.lstrip("0"))))
    monkeypatch.setattr(deploy_synapse, "directory", lambda name, path, **_: dirs.add(path))
    operations = deploy_synapse.install_module()
    assert len(operations) == len(puts) == len(layout.SYNAPSE_MODULE_FILES) + 1  # the code and openapi.json

    tenants_file = tenants(tmp_path, every_condition=False)
    data = host_data(load_plan(tenants_file), load_plan(tenants_file).hosts[0], tenants_file)["counselkit_synapse_module"]
    assert set(data["dirs"]) == dirs
    assert {f["dest"]: (Path(f["src"]).read_text(encoding="utf-8"), "root", "root", "644") for f in data["files"]} == puts
    assert f"{layout.SYNAPSE_MODULE_DIR}/module.py" in puts and layout.COUNSELLING_OPENAPI_HOST in puts

    tasks = YAML(typ="safe").load((REPO / "roles/synapse/tasks/main.yml").read_text())
    (copy,) = [t for t in tasks if t.get("loop") == "{{ counselkit_synapse_module.files }}"]
    assert copy["ansible.builtin.copy"] == {"src": "{{ item.src }}", "dest": "{{ item.dest }}", "owner": "root",
                                            "group": "root", "mode": "0644"}
    (mkdir,) = [t for t in tasks if t.get("loop") == "{{ counselkit_synapse_module.dirs }}"]
    assert mkdir["ansible.builtin.file"]["mode"] == "0755"
    tenant_tasks = YAML(typ="safe").load((REPO / "roles/synapse/tasks/tenant.yml").read_text())
    (restart,) = [t for t in tenant_tasks if t.get("ansible.builtin.systemd_service", {}).get("state") == "restarted"]
    assert any(f"{copy['register']} is changed" in condition for condition in restart["when"])
    # pyinfra: the restart condition of every tenant includes the module's operations
    source = (REPO / "deploy/synapse.py").read_text()
    assert "module_files = install_module()" in source and "*module_files)" in source
