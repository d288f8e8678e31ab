"""Both engines receive the same components, host by host (issue 14.1: one component spec, two engines): base
hardening, PostgreSQL, Synapse, nginx, backup and Keycloak.

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
import posixpath
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from counselkit import layout, render
from counselkit.plan import load_plan
from deploy import backup as deploy_backup
from deploy import base as deploy_base
from deploy import components as deploy_components
from deploy import keycloak as deploy_keycloak
from deploy import nginx as deploy_nginx
from deploy import postgres as deploy_postgres
from deploy import synapse as deploy_synapse
from tests.support import KEYCLOAK_PIN, REPO, example_data, png_bytes, write_yaml

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
       "NO_COLOR": "1", "COUNSELKIT_VAULT_PASSWORD": "decrypts-nothing"}
ROLES = ("hardening", "postgresql", "synapse", "nginx", "backup", "keycloak")
ROLE_INPUTS = ("hardening_apt_files", "hardening_apt_absent", "hardening_packages", "hardening_directories",
               "hardening_files", "hardening_absent", "hardening_handlers", "hardening_services",
               "hardening_unwanted_services",
               "postgresql_packages", "postgresql_files", "postgresql_handlers", "postgresql_services",
               "postgresql_psql", "postgresql_maintenance_dbs",
               "synapse_groups", "synapse_users", "synapse_directories", "synapse_copies", "synapse_files",
               "synapse_handlers", "synapse_services", "synapse_release", "synapse_signing_keys",
               "synapse_restart_handlers",
               "backup_packages", "backup_groups", "backup_directories", "backup_files", "backup_handlers",
               "backup_services", "backup_passwords", "backup_s3_refs",
               "nginx_packages", "nginx_directories", "nginx_files", "nginx_handlers", "nginx_services",
               "nginx_stock_site", "nginx_ca_certificate", "nginx_certificates", "nginx_acme", "nginx_webapp",
               "keycloak_packages", "keycloak_java_packages", "keycloak_groups", "keycloak_users",
               "keycloak_directories", "keycloak_files", "keycloak_contexts", "keycloak_secret_refs",
               "keycloak_bootstrap", "keycloak_database", "keycloak_release", "keycloak_handlers", "keycloak_services")


def tenants(tmp_path: Path, every_condition: bool, keycloak: bool = False) -> Path:
    data = example_data()
    if keycloak:
        data["platform"].setdefault("artifacts", {})["keycloak"] = dict(KEYCLOAK_PIN)
    if every_condition:
        data["platform"]["proxy"] = "http://proxy.example.org:3128"
        data["platform"]["smtp"] = {"host": "smtp.example.org", "from_address": "noreply@beratung.example.org",
                                    "user": "mailer", "reports_to": "ops@beratung.example.org"}
        data["platform"]["hosts"].append({**data["platform"]["hosts"][0], "name": "node2", "address": "203.0.113.11"})
        data["platform"]["tls"] = "acme"
        data["platform"]["acme_email"] = "ops@beratung.example.org"
        # a centre's logo, next to tenants.yaml: copied into its web root by both engines
        (tmp_path / "logos").mkdir(exist_ok=True)
        (tmp_path / "logos" / "awo.png").write_bytes(png_bytes())
        data["tenants"][0].setdefault("branding", {})["logo"] = "logos/awo.png"
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
        self.groups: list[str] = []
        self.users: list[tuple[str, str, str, str]] = []  # (name, group, home, shell)
        self.daemon_reloads = 0
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
                recorder.daemon_reloads += 1
                return Op()

        class Server:
            @staticmethod
            def shell(name: str, commands: list[str], **_: Any) -> Op:
                recorder.checks.extend(commands)
                return Op()

            @staticmethod
            def group(name: str, group: str, system: bool) -> Op:
                assert system is True
                recorder.groups.append(group)
                return Op()

            @staticmethod
            def user(name: str, user: str, group: str, system: bool, home: str, shell: str, create_home: bool,
                     ensure_home: bool) -> Op:
                assert system is True and not create_home and not ensure_home
                recorder.users.append((user, group, home, shell))
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


def plan_and_role_inputs(tmp_path: Path, every_condition: bool,
                         keycloak: bool = False) -> tuple[Any, dict[str, dict[str, Any]]]:
    tenants_file = tenants(tmp_path, every_condition, keycloak)
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
             for name in layout.WEBAPP_BUNDLE + layout.WEBAPP_PRECOMPRESSED} | \
            {(t["slug"], "logo.png") for t in host_vars["tenants"] if t["branding"]["logo"]}
        for t in host_vars["tenants"]:  # the logo where config.json points the app, from the file tenants.yaml names
            if t["branding"]["logo"]:
                (logo,) = [e for e in inputs["nginx_webapp"] if e["tenant"] == t["slug"] and e["dest"].endswith("png")]
                assert logo["dest"] == t["web_root"] + t["web_config"]["logo_url"]
                assert Path(logo["src"]).read_bytes() == png_bytes()
                assert (posixpath.dirname(logo["dest"]), "root", "root", "755") in web.directories
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


def synapse_side(monkeypatch: pytest.MonkeyPatch, host_vars: dict[str, Any]) -> tuple[Recorder, dict[str, Any]]:
    """What deploy/synapse.py hands to pyinfra for a host: the spec's operations, plus what its code (venv,
    signing keys) is given."""
    recorder = Recorder()
    ctx = render.host_context(host_vars, None)
    code: dict[str, Any] = {"copies": {}, "venv": [], "keys": [], "key_modes": set()}
    with monkeypatch.context() as patch:
        recorder.install(patch)
        patch.setattr(deploy_synapse, "host_vars", lambda: host_vars)
        patch.setattr(deploy_synapse, "in_container", lambda: False)
        patch.setattr(deploy_components, "context", lambda: ctx)

        def copy(name: str, dest: str, content: str, user: str, group: str, mode: str) -> Any:
            code["copies"][dest] = (content, user, group, mode.lstrip("0"))
            return object()

        patch.setattr(deploy_components, "put", copy)
        patch.setattr(deploy_synapse, "synapse_venv", lambda name, **kw: code["venv"].append(kw) or object())
        patch.setattr(deploy_synapse, "signing_key", lambda name, **kw: code["keys"].append(kw))
        patch.setattr(deploy_synapse, "owner_and_mode", lambda name, path, user, group, mode:
                      code["key_modes"].add((path, user, group, mode.lstrip("0"))))
        patch.setattr(deploy_synapse.managed, "register", lambda path: None)
        deploy_synapse.synapse.__wrapped__()
    return recorder, code


@pytest.mark.parametrize("every_condition", [False, True], ids=["example", "acme-two-hosts"])
def test_both_engines_receive_the_same_synapse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               every_condition: bool) -> None:
    from counselkit import layout

    plan, role = plan_and_role_inputs(tmp_path, every_condition)
    for host_plan in plan.hosts:
        inputs = role[host_plan.name]
        host_vars = render.host_vars(plan, host_plan)
        ours, code = synapse_side(monkeypatch, host_vars)
        tenants_here = host_vars["tenants"]
        assert ours.groups == inputs["synapse_groups"] == [t["unix_user"] for t in tenants_here]
        assert ours.users == [(u["name"], u["group"], u["home"], u["shell"]) for u in inputs["synapse_users"]]
        assert ours.directories == {(d["path"], d["owner"], d["group"], d["mode"].lstrip("0"))
                                    for d in inputs["synapse_directories"]}
        # copies: the same repository files, content, owner and mode at the same paths
        assert code["copies"] == {c["dest"]: ((REPO / c["source"]).read_text(encoding="utf-8"), c["owner"], c["group"],
                                              c["mode"].lstrip("0")) for c in inputs["synapse_copies"]}
        assert {c["dest"] for c in inputs["synapse_copies"]} == {
            layout.SYNAPSE_REQUIREMENTS_HOST, *layout.synapse_module_files().values()}
        assert ours.files == files_of(inputs["synapse_files"])
        assert ours.tenant_files == {(f["template"], f["dest"], f["tenant"]) for f in inputs["synapse_files"]
                                     if f["tenant"]}
        # every tenant template of Synapse, for every tenant, and the template unit: the files render.py names
        wanted = {(name, t[key]) for t in tenants_here for name, key in render.TENANT_TEMPLATES.items()
                  if not name.startswith(("nginx/", "web/"))}
        assert {(f[0], f[1]) for f in ours.tenant_files} == wanted
        assert [f["dest"] for f in inputs["synapse_files"] if f["sensitive"]] == [t["homeserver_yaml"]
                                                                                   for t in tenants_here]
        release = inputs["synapse_release"]
        assert code["venv"] == [{"venv": release["venv"], "requirements_path": release["requirements"],
                                 "requirements_sha256": code["venv"][0]["requirements_sha256"],
                                 "stamp": release["stamp"]}]
        assert [(k["key_path"], k["user"]) for k in code["keys"]] == [(k["path"], k["owner"])
                                                                      for k in inputs["synapse_signing_keys"]]
        assert code["key_modes"] == {(k["path"], k["owner"], k["group"], k["mode"].lstrip("0"))
                                     for k in inputs["synapse_signing_keys"]}
        # handlers (the recorder reports every operation as changed): one daemon-reload, the egress rules loaded,
        # the bytecode compiled, every instance restarted; then the instances
        assert ours.daemon_reloads == 1
        commands = [["sh", "-c", layout.NFTABLES_RELOAD], list(layout.SYNAPSE_BYTECODE_COMPILE)]
        assert [h["argv"] for h in inputs["synapse_handlers"] if h["argv"]] == commands
        assert ours.checks == [deploy_synapse.shlex.join(c) for c in commands]
        assert ours.units == {s["unit"] for s in inputs["synapse_services"]} | handled_units(inputs, "synapse") \
            == {t["unit"] for t in tenants_here}
        assert inputs["synapse_restart_handlers"] == {t["slug"]: f"Restart {t['unit']}" for t in tenants_here}
        # every handler a copy, a file or the release names is a handler or a topic one listens to
        names = {h["name"] for h in inputs["synapse_handlers"]} | {t for h in inputs["synapse_handlers"]
                                                                    for t in h["listen"]}
        named = {x["handler"] for x in inputs["synapse_copies"] + inputs["synapse_files"] if x["handler"]}
        assert named | {release["handler"]} <= names


class Secrets:
    """Stands in for the secrets file: every value names its reference."""

    @staticmethod
    def get(ref: str) -> str:
        return f"<{ref}>"


@pytest.mark.parametrize("every_condition", [False, True], ids=["example", "proxy-two-hosts"])
def test_both_engines_receive_the_same_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              every_condition: bool) -> None:
    import shlex

    from counselkit import layout
    from counselkit.backup.render import host_files, host_secrets

    plan, role = plan_and_role_inputs(tmp_path, every_condition)
    for host_plan in plan.hosts:
        inputs = role[host_plan.name]
        recorder = Recorder()
        written: dict[str, tuple[str, str, str, str]] = {}
        with monkeypatch.context() as patch:
            recorder.install(patch)
            patch.setattr(deploy_backup, "in_container", lambda: False)
            patch.setattr(deploy_backup, "put", lambda name, dest, content, user="root", group="root", mode="644":
                          written.setdefault(dest, (content, user, group, mode.lstrip("0"))))
            deploy_backup.install.__wrapped__(plan=plan, secrets=Secrets(), host_name=host_plan.name)
        assert recorder.packages == set(inputs["backup_packages"]) == {"restic", "python3", "util-linux"}
        assert recorder.groups == inputs["backup_groups"]
        assert recorder.directories == {(d["path"], d["owner"], d["group"], d["mode"].lstrip("0"))
                                        for d in inputs["backup_directories"]}
        files = {f["dest"]: (f["owner"], f["group"], f["mode"].lstrip("0")) for f in inputs["backup_files"]}
        passwords = {p["dest"]: ("root", "root", p["mode"].lstrip("0")) for p in inputs["backup_passwords"]}
        assert {dest: w[1:] for dest, w in written.items()} == files | passwords
        # and what pyinfra writes is, byte for byte, what counselkit.backup.render gives for the host
        wanted = host_files(plan, host_plan.name, *host_secrets(plan, host_plan.name, Secrets()))
        assert {f.path: (f.content, f.mode.lstrip("0")) for f in wanted} == {d: (w[0], w[3]) for d, w in written.items()}
        assert [f["dest"] for f in inputs["backup_files"] if f["sensitive"]] == [
            f.path for f in wanted if f.secret and f.path not in passwords]
        assert recorder.units == {s["unit"] for s in inputs["backup_services"]}
        assert recorder.daemon_reloads == 1 and recorder.checks == [shlex.join(["sh", "-c", layout.NFTABLES_RELOAD])]
        assert inputs["backup_s3_refs"] == [plan.platform_secrets["backup_s3_access_key"],
                                            plan.platform_secrets["backup_s3_secret_key"]]


def test_a_handler_runs_for_the_topics_it_listens_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/components.py run_handlers: a handler runs when an operation named it or a topic it listens to
    (Synapse: a changed module restarts every instance), and only then."""
    from counselkit.components import Component, Handler

    restarted: list[str] = []

    class Systemd:
        @staticmethod
        def service(name: str, service: str, _if: Any, **_: Any) -> None:
            restarted.append(service)

    monkeypatch.setattr(deploy_components, "systemd", Systemd)
    monkeypatch.setattr(deploy_components, "any_changed", lambda *ops: ops)
    component = Component(name="x", handlers=(
        Handler("Restart a", unit="a.service", action="restarted", listen=("all",)),
        Handler("Restart b", unit="b.service", action="restarted", listen=("all",)),
        Handler("Restart c", unit="c.service", action="restarted")))
    deploy_components.run_handlers(component, {"Restart a": [object()]}, container=False)
    assert restarted == ["a.service"]
    restarted.clear()
    deploy_components.run_handlers(component, {"all": [object()]}, container=False)
    assert restarted == ["a.service", "b.service"]


def test_the_synapse_role_runs_the_handlers_of_what_changed(tmp_path: Path) -> None:
    """roles/synapse: the handlers chosen from the registered results (vars/main.yml synapse_changed_handlers and
    the handler tasks' `when`) are those run_handlers picks — a module copy restarts every instance, a tenant's
    homeserver.yaml (a no_log result) only its own, its OIDC provider its own, a new release all."""
    tasks = YAML(typ="safe").load((REPO / "roles/synapse/tasks/main.yml").read_text())
    handler_tasks = [t for t in tasks if "synapse_handlers" in str(t.get("loop", ""))]
    assert len(handler_tasks) == 3 and len({t["when"] for t in handler_tasks}) == 1
    when = handler_tasks[0]["when"]
    changed = YAML(typ="safe").load((REPO / "roles/synapse/vars/main.yml").read_text())["synapse_changed_handlers"]
    handlers = [{"name": "Restart a", "listen": ["all", "a drop-in"]}, {"name": "Restart b", "listen": ["all"]},
                {"name": "Reload", "listen": ["a drop-in"]}]
    cases = {
        "module": ({"synapse_copy_results": {"results": [{"changed": True, "item": {"handler": "all"}}]}},
                   ["Restart a", "Restart b"]),
        "homeserver": ({"synapse_secret_file_results": {"results": [
            {"changed": True, "item": {"handler": "Restart b"}, "_ansible_no_log": True},
            {"changed": False, "item": {"handler": "Restart a"}}]}}, ["Restart b"]),
        "drop-in": ({"synapse_file_results": {"results": [{"changed": True, "item": {"handler": "a drop-in"}}]}},
                    ["Restart a", "Reload"]),
        "oidc": ({"synapse_oidc_results": {"results": [{"changed": True, "item": {"slug": "a"}}]}}, ["Restart a"]),
        "release": ({"synapse_release_install": {"changed": True}}, ["Restart a", "Restart b"]),
        "nothing": ({"synapse_copy_results": {"results": [{"changed": False, "item": {"handler": "all"}}]}}, []),
    }
    plays = []
    for case, (registered, _) in cases.items():
        plays.append({"hosts": "localhost", "connection": "local", "gather_facts": False,
                      # the install task always registers (skipped when the stamp matched)
                      "vars": {"synapse_release_install": {"changed": False, "skipped": True}, **registered,
                               "synapse_changed_handlers": changed, "synapse_handlers": handlers,
                               "synapse_release": {"handler": "all"},
                               "synapse_restart_handlers": {"a": "Restart a", "b": "Restart b"}},
                      "tasks": []})
    # `when` per item: evaluate it as the handler tasks do, one debug task per handler
    for index, (play, case) in enumerate(zip(plays, cases)):  # set_fact outlives its play: a fact per case
        play["tasks"] = [{"ansible.builtin.set_fact": {f"ran{index}": f"{{{{ ran{index} | default([]) + [item.name] }}}}"},
                          "loop": "{{ synapse_handlers }}", "when": when},
                         {"ansible.builtin.copy": {"content": f"{{{{ ran{index} | default([]) | to_json }}}}",
                                                   "dest": str(tmp_path / f"{case}.json"), "mode": "0600"}}]
    playbook = tmp_path / "handlers.yml"
    playbook.write_text(json.dumps(plays))
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)], cwd=REPO, env=ENV,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for case, (_, wanted) in cases.items():
        assert json.loads((tmp_path / f"{case}.json").read_text()) == wanted, case


def test_the_backup_role_renders_what_pyinfra_writes(tmp_path: Path) -> None:
    """roles/backup's two template tasks (run by ansible-playbook on localhost with the plugin's hostvars, only
    their destination and owner bent into a temporary directory) write the bytes deploy/backup.py writes."""
    from counselkit.backup.render import host_files, host_secrets

    sys.path.insert(0, str(REPO / "inventories/ansible/plugins/inventory"))
    from counselkit_plan import host_data

    tenants_file = tenants(tmp_path, every_condition=True)  # with a proxy: restic.env names it
    plan = load_plan(tenants_file)
    host_plan = plan.hosts[0]
    hostvars = host_data(plan, host_plan, tenants_file)
    refs = hostvars["counselkit_components"]["backup"]["layout"]["s3_refs"]
    secrets: dict[str, Any] = {}
    for ref in refs:  # counselkit_secret reads the vault's nested dicts
        node = secrets
        *parents, leaf = ref.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = Secrets.get(ref)
    hostvars["counselkit_secrets"] = secrets
    (tmp_path / "hostvars.json").write_text(json.dumps(hostvars))
    out = tmp_path / "out"
    tasks = [t for t in YAML(typ="safe").load((REPO / "roles/backup/tasks/main.yml").read_text())
             if "ansible.builtin.template" in t]
    assert len(tasks) == 2
    for task in tasks:  # only where it writes and as whom change: the template, its variables are the role's
        task["ansible.builtin.template"].update(dest=f"{out}{{{{ item.dest }}}}", owner=str(os.getuid()),
                                               group=str(os.getgid()))
    mkdirs = {"ansible.builtin.file": {"path": f"{out}{{{{ item.dest | dirname }}}}", "state": "directory",
                                       "mode": "0700"}, "loop": "{{ backup_files }}"}
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [str(tmp_path / "hostvars.json"), str(REPO / "roles/backup/defaults/main.yml"),
                            str(REPO / "roles/backup/vars/main.yml")],
             "tasks": [mkdirs, *tasks]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(tmp_path / "play.yml")], cwd=REPO,
                            env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    wanted = host_files(plan, host_plan.name, *host_secrets(plan, host_plan.name, Secrets()))
    templated = {f["dest"] for f in hostvars["counselkit_components"]["backup"]["files"]}
    assert templated and templated <= {f.path for f in wanted}
    for f in wanted:
        if f.path in templated:
            assert (out / f.path.lstrip("/")).read_text() == f.content, f.path


class KeycloakSecrets:
    """Every value names its reference, in the EnvironmentFile-safe alphabet Keycloak's secrets must keep to."""

    @staticmethod
    def get(ref: str) -> str:
        return ref.replace(".", "_") + "-value"


def keycloak_side(monkeypatch: pytest.MonkeyPatch, plan: Any, host_name: str, stamp: bool = False,
                  with_archive: bool = True) -> tuple[Recorder, dict[str, Any]]:
    """What deploy/keycloak.py install() hands to pyinfra for a host: the spec's operations, the files it writes
    (content, owner, group, mode) and what its code (SQL, archive, link, stamp) is given; in order of the calls."""
    recorder = Recorder()
    code: dict[str, Any] = {"written": {}, "order": [], "uploads": [], "links": [], "file_ops": [], "packages": []}
    with monkeypatch.context() as patch:
        recorder.install(patch)

        class Op:
            did_change = staticmethod(lambda: True)

        def put(name: str, dest: str, content: str, user: str = "root", group: str = "root", mode: str = "644") -> Op:
            code["written"][dest] = (content, user, group, mode.lstrip("0"))
            code["order"].append(dest)
            return Op()

        class Files:
            @staticmethod
            def put(name: str, src: str, dest: str, **_: Any) -> Op:
                code["uploads"].append(dest)
                code["order"].append("upload")
                return Op()

            @staticmethod
            def link(name: str, path: str, target: str) -> Op:
                code["links"].append((path, target))
                return Op()

            @staticmethod
            def file(name: str, path: str, present: bool, **kw: Any) -> Op:
                code["file_ops"].append((path, present, kw.get("mode")))
                code["order"].append(f"file {path}")
                return Op()

        class Apt:
            @staticmethod
            def packages(name: str, packages: list[str], **_: Any) -> Op:
                code["packages"] = packages
                return Op()

        class Host:
            data: dict[str, Any] = {}
            name = host_name

            @staticmethod
            def get_fact(fact: Any, *_: Any, **__: Any) -> Any:
                if fact is deploy_keycloak.LinuxDistribution:
                    return {"release_meta": {"ID": "debian", "VERSION_ID": "12"}}
                if fact is deploy_keycloak.File:
                    return {"mode": 600} if stamp else None
                return "1"

        class Server:
            @staticmethod
            def shell(name: str, commands: list[str], **_: Any) -> Op:
                code["order"].append(name)
                return Op()

        for name, value in (("put", put), ("files", Files), ("apt", Apt), ("host", Host), ("server", Server),
                            ("in_container", lambda: False), ("fetch", lambda artifact: Path("/nonexistent.tar.gz"))):
            patch.setattr(deploy_keycloak, name, value)
        patch.setitem(Host.data, "counselkit_host", host_name)
        deploy_keycloak.install.__wrapped__(plan=plan, secrets=KeycloakSecrets(), with_archive=with_archive)
    return recorder, code


@pytest.mark.parametrize("every_condition", [False, True], ids=["example", "acme-two-hosts"])
def test_both_engines_receive_the_same_keycloak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                every_condition: bool) -> None:
    from counselkit.keycloak import render as kc

    plan, role = plan_and_role_inputs(tmp_path, every_condition, keycloak=True)
    for host_plan in plan.hosts:
        inputs = role[host_plan.name]
        ours, code = keycloak_side(monkeypatch, plan, host_plan.name)
        assert code["packages"] == [inputs["keycloak_java_packages"]["debian-12"], *inputs["keycloak_packages"]]
        assert ours.groups == inputs["keycloak_groups"] == [layout.KEYCLOAK_GROUP]
        assert ours.users == [(u["name"], u["group"], u["home"], u["shell"]) for u in inputs["keycloak_users"]]
        assert ours.directories == {(d["path"], d["owner"], d["group"], d["mode"].lstrip("0"))
                                    for d in inputs["keycloak_directories"]}
        # the same files at the same places, owner and mode: the templated ones and the database SQL
        database = inputs["keycloak_database"]
        files = {f["dest"]: (f["owner"], f["group"], f["mode"].lstrip("0")) for f in inputs["keycloak_files"]}
        assert {d: w[1:] for d, w in code["written"].items()} == files | {
            database["sql_file"]: ("root", "root", database["mode"].lstrip("0"))}
        # every file of a tenant's login theme goes into the release, after the unpack
        release = inputs["keycloak_release"]
        themes = [f["dest"] for f in inputs["keycloak_files"] if f["context"] == release["context"]]
        assert len(themes) == 2 * len(host_plan.tenants) and all(d.startswith(release["dir"] + "/themes/")
                                                                 for d in themes)
        unpack = code["order"].index(next(o for o in code["order"] if o.startswith("Keycloak: unpack")))
        assert all(code["order"].index(d) > unpack for d in themes)
        assert all(code["order"].index(f["dest"]) < unpack for f in inputs["keycloak_files"] if f["dest"] not in themes)
        # byte for byte what counselkit.keycloak.render gives (the renders the keycloak tests check)
        version = KEYCLOAK_PIN["version"]
        wanted = {layout.KEYCLOAK_CONF: kc.keycloak_conf(plan, version),
                  f"/etc/systemd/system/{layout.KEYCLOAK_UNIT}": kc.unit_file(version),
                  layout.KEYCLOAK_ENV_FILE: kc.env_file(KeycloakSecrets.get(plan.platform_secrets["keycloak_db_password"])),
                  layout.KEYCLOAK_BOOTSTRAP_ENV_FILE: kc.bootstrap_env_file(
                      KeycloakSecrets.get(plan.platform_secrets["keycloak_admin_password"]))}
        wanted |= {f"{layout.keycloak_release(version)}/themes/{rel}": text for t in host_plan.tenants
                   for rel, text in kc.theme_files(t).items()}
        assert {d: w[0] for d, w in code["written"].items() if d != database["sql_file"]} == wanted
        assert [f["dest"] for f in inputs["keycloak_files"] if f["sensitive"]] == [layout.KEYCLOAK_ENV_FILE,
                                                                                   layout.KEYCLOAK_BOOTSTRAP_ENV_FILE]
        assert code["uploads"] == [f"{release['archive_dir']}/keycloak-{version}.tar.gz"]
        assert code["links"] == [(release["current"], release["dir"])]
        # handlers (the recorder reports every operation as changed): one daemon-reload, the restart; the unit
        assert ours.daemon_reloads == 1
        assert ours.units == {s["unit"] for s in inputs["keycloak_services"]} | handled_units(inputs, "keycloak") \
            == {layout.KEYCLOAK_UNIT}
        names = {h["name"] for h in inputs["keycloak_handlers"]} | {t for h in inputs["keycloak_handlers"]
                                                                     for t in h["listen"]}
        assert {f["handler"] for f in inputs["keycloak_files"]} | {release["handler"]} <= names
        # healthy, then the bootstrap password removed and the stamp set
        bootstrap = inputs["keycloak_bootstrap"]
        assert code["file_ops"] == [(bootstrap["file"], False, None), (bootstrap["stamp"], True, bootstrap["stamp_mode"])]
        assert code["order"].index("Keycloak: wait until healthy (management port, loopback)") \
            < code["order"].index(f"file {bootstrap['file']}")


def test_keycloak_writes_the_bootstrap_file_only_before_the_stamp(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    plan = load_plan(tenants(tmp_path, every_condition=False, keycloak=True))
    first = keycloak_side(monkeypatch, plan, plan.hosts[0].name, stamp=False, with_archive=False)[1]
    later = keycloak_side(monkeypatch, plan, plan.hosts[0].name, stamp=True, with_archive=False)[1]
    assert layout.KEYCLOAK_BOOTSTRAP_ENV_FILE in first["written"]
    assert set(first["written"]) - set(later["written"]) == {layout.KEYCLOAK_BOOTSTRAP_ENV_FILE}
    # without the archive: nothing of the release, no handler, no unit started
    assert not first["uploads"] and not first["file_ops"]
    assert not any(d.startswith(layout.KEYCLOAK_RELEASES) for d in first["written"])


@pytest.mark.parametrize("stamp", [False, True], ids=["first-start", "bootstrapped"])
def test_the_keycloak_role_renders_what_pyinfra_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       stamp: bool) -> None:
    """roles/keycloak's two template tasks (run by ansible-playbook on localhost with the plugin's hostvars, only
    their destination and owner bent into a temporary directory, the bootstrap stamp stat'ed there) write the bytes
    deploy/keycloak.py writes, and the bootstrap file only while the stamp is missing."""
    sys.path.insert(0, str(REPO / "inventories/ansible/plugins/inventory"))
    from counselkit_plan import host_data

    tenants_file = tenants(tmp_path, every_condition=False, keycloak=True)
    plan = load_plan(tenants_file)
    host_plan = plan.hosts[0]
    hostvars = host_data(plan, host_plan, tenants_file)
    spec = hostvars["counselkit_components"]["keycloak"]
    secrets: dict[str, Any] = {}
    for ref in (r for refs in spec["layout"]["secrets"].values() for r in refs.values()):
        node = secrets
        *parents, leaf = ref.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = KeycloakSecrets.get(ref)
    hostvars["counselkit_secrets"] = secrets
    (tmp_path / "hostvars.json").write_text(json.dumps(hostvars))
    out = tmp_path / "out"
    tasks = [t for t in YAML(typ="safe").load((REPO / "roles/keycloak/tasks/main.yml").read_text())
             if "ansible.builtin.template" in t or "ansible.builtin.stat" in t]
    assert len(tasks) == 3
    for task in tasks:  # only where it writes and as whom change: the templates, their variables are the role's
        if "ansible.builtin.stat" in task:
            task["ansible.builtin.stat"]["path"] = f"{out}{{{{ keycloak_bootstrap.stamp }}}}"
            continue
        task["ansible.builtin.template"].update(dest=f"{out}{{{{ item.dest }}}}", owner=str(os.getuid()),
                                               group=str(os.getgid()))
    mkdirs = {"ansible.builtin.file": {"path": f"{out}{{{{ item.dest | dirname }}}}", "state": "directory",
                                       "mode": "0700"}, "loop": "{{ keycloak_files }}"}
    if stamp:
        (out / spec["layout"]["bootstrap"]["stamp"].lstrip("/")).parent.mkdir(parents=True)
        (out / spec["layout"]["bootstrap"]["stamp"].lstrip("/")).write_text("")
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [str(tmp_path / "hostvars.json"), str(REPO / "roles/keycloak/defaults/main.yml"),
                            str(REPO / "roles/keycloak/vars/main.yml")],
             "tasks": [mkdirs, *tasks]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "--diff", str(tmp_path / "play.yml")],
                            cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for ref in (r for refs in spec["layout"]["secrets"].values() for r in refs.values()):
        assert KeycloakSecrets.get(ref) not in result.stdout + result.stderr, "a secret in the output or --diff"
    _, code = keycloak_side(monkeypatch, plan, host_plan.name, stamp=stamp, with_archive=False)
    written = {d: w for d, w in code["written"].items() if d != spec["layout"]["database"]["sql_file"]}
    assert written and (layout.KEYCLOAK_BOOTSTRAP_ENV_FILE in written) is not stamp
    rendered = {str(p)[len(str(out)):]: p.read_text() for p in out.rglob("*") if p.is_file()
                and str(p)[len(str(out)):] != spec["layout"]["bootstrap"]["stamp"]}
    assert rendered == {d: w[0] for d, w in written.items()}
