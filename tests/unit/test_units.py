"""Every systemd unit counselkit writes: its `systemd-analyze security` exposure, the per-tenant limits and egress
rules, and the audit check that rates the units on a host (on synthetic `systemd-analyze security` output)."""

from __future__ import annotations

import re
import shutil
import subprocess
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from counselkit import layout, policy, render
from counselkit.audit.checks import UNIT_EXPOSURE_MAX, counselkit_units, exposure_scores, units_exposure_ok
from counselkit.backup import render as backup_render
from counselkit.keycloak.render import unit_file as keycloak_unit
from counselkit.plan import load_plan
from tests.support import example_data, tenant_entry, write_yaml

LAB_S3 = "http://10.248.0.1:9000"
LAB_PROXY = "http://10.248.0.1:8888"


def plan_of(tmp_path: Path, **platform_changes):
    data = example_data()
    data["platform"].setdefault("artifacts", {})["keycloak"] = {
        "version": "26.0.0", "url": "https://github.com/keycloak/keycloak/releases/download/26.0.0/keycloak-26.0.0.tar.gz",
        "sha256": "0" * 64}
    data["tenants"].append(tenant_entry("caritas-flensburg", federation=True, federation_domains=["beratung.partner.example"],
                                        limits={"memory_max_mb": 4096, "memory_high_mb": 3072, "tasks_max": 512}))
    for key, value in platform_changes.items():
        if key == "s3_endpoint":
            data["platform"]["backup"]["s3_endpoint"] = value
        else:
            data["platform"][key] = value
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_plan(write_yaml(tmp_path / "tenants.yaml", data))


def host_context(plan):
    return render.host_context(render.host_vars(plan, plan.hosts[0].name), None)


def rendered_units(plan) -> dict[str, str]:
    """file name -> text of every unit file counselkit writes (host templates, backup, Keycloak)."""
    units = {Path(dest).name: text for dest, text in render.render_host_files(host_context(plan)).items()
             if dest.startswith("/etc/systemd/system/") and dest.endswith(".service")}
    units |= {Path(f.path).name: f.content for f in backup_render.common_files(plan) if f.path.endswith(".service")}
    units[layout.KEYCLOAK_UNIT] = keycloak_unit("26.0.0")
    return units


def tenant_files(plan, slug: str) -> tuple[dict, dict[str, str]]:
    context = host_context(plan)
    tenant = next(t for t in context["tenants"] if t["slug"] == slug)
    return tenant, render.render_tenant_files(context, slug)


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


# --- systemd-analyze security of the rendered units ----------------------------------------------------------

def offline_exposure(directory: Path, name: str, text: str) -> float:
    (directory / name).write_text(text)
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", name], cwd=directory,
                            capture_output=True, text=True, timeout=120)
    scores = exposure_scores(result.stdout)
    assert len(scores) == 1, f"no score for {name}:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
    return next(iter(scores.values()))


needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


@needs_analyze
@pytest.mark.parametrize("site", ["example", "lab"])
def test_every_unit_scores_ok_offline(tmp_path: Path, site: str) -> None:
    # Both backup variants: a named S3 endpoint (no address list possible) and the lab's IP literals.
    changes = {} if site == "example" else {"s3_endpoint": LAB_S3, "proxy": LAB_PROXY, "no_proxy": ["10.248.0.1"]}
    units = rendered_units(plan_of(tmp_path, **changes))
    assert set(units) == {layout.SYNAPSE_UNIT_TEMPLATE, layout.BACKUP_SERVICE_TEMPLATE, layout.AIDE_INIT_UNIT,
                          layout.KEYCLOAK_UNIT}
    scores = {name: offline_exposure(tmp_path, name, text) for name, text in units.items()}
    assert all(score <= UNIT_EXPOSURE_MAX for score in scores.values()), scores


@needs_analyze
def test_tenant_instances_with_their_dropins_score_ok_offline(tmp_path: Path) -> None:
    # The instance as systemd loads it: template + the tenant's drop-in, with and without federation.
    plan = plan_of(tmp_path / "plan")
    context, root = host_context(plan), tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / layout.SYNAPSE_UNIT_PATH.lstrip("/")).write_text(render.render_host_files(context)[layout.SYNAPSE_UNIT_PATH])
    scores = {}
    for slug in ("awo-kiel", "caritas-flensburg"):
        tenant, files = tenant_files(plan, slug)
        dropin = root / tenant["unit_dropin"].lstrip("/")
        dropin.parent.mkdir(parents=True)
        dropin.write_text(files[tenant["unit_dropin"]])
        result = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={root}", "--no-pager",
                                 tenant["unit"]], capture_output=True, text=True, timeout=120)
        scores |= exposure_scores(result.stdout)
    assert set(scores) == {"matrix-synapse@awo-kiel.service", "matrix-synapse@caritas-flensburg.service"}, scores
    assert all(score <= UNIT_EXPOSURE_MAX for score in scores.values()), scores
    # Without federation the address filter counts: the instance is rated better than the federating one.
    assert scores["matrix-synapse@awo-kiel.service"] < scores["matrix-synapse@caritas-flensburg.service"]


@needs_analyze
def test_offline_rating_catches_a_weakened_unit(tmp_path: Path) -> None:
    text = rendered_units(plan_of(tmp_path))[layout.BACKUP_SERVICE_TEMPLATE]
    weak = "\n".join(line for line in text.splitlines()
                     if not line.startswith(("CapabilityBoundingSet", "SystemCallFilter", "Protect", "Private")))
    assert offline_exposure(tmp_path, layout.BACKUP_SERVICE_TEMPLATE, weak) > UNIT_EXPOSURE_MAX


def test_backup_unit_drops_every_capability_but_reading(tmp_path: Path) -> None:
    unit = directives(rendered_units(plan_of(tmp_path))[layout.BACKUP_SERVICE_TEMPLATE])
    assert unit["CapabilityBoundingSet"] == ["CAP_DAC_READ_SEARCH"]
    assert unit["ProtectSystem"] == ["strict"] and unit["ReadWritePaths"] == [layout.BACKUP_STATE_ROOT]
    assert "~@privileged @resources @obsolete" in unit["SystemCallFilter"]
    script = backup_render.common_files(plan_of(tmp_path))[0].content
    dump = next(line for line in script.splitlines() if "pg_dump" in line and "if !" in line)
    assert "runuser" not in dump and f"--username={layout.POSTGRES_SUPERUSER}" in dump


def test_backup_egress_by_address_only_when_every_destination_is_an_address(tmp_path: Path) -> None:
    named = directives(rendered_units(plan_of(tmp_path / "a"))[layout.BACKUP_SERVICE_TEMPLATE])
    assert "IPAddressDeny" not in named  # s3.example.org is a name: no address list possible
    lab = plan_of(tmp_path / "b", s3_endpoint=LAB_S3, proxy=LAB_PROXY, no_proxy=["10.248.0.1"])
    unit = directives(rendered_units(lab)[layout.BACKUP_SERVICE_TEMPLATE])
    assert unit["IPAddressDeny"] == ["any"] and unit["IPAddressAllow"] == ["localhost 10.248.0.1"]
    # Through the proxy (S3 not in no_proxy): only the proxy is a destination.
    proxied = backup_render.egress(plan_of(tmp_path / "c", s3_endpoint="https://s3.example.org", proxy=LAB_PROXY))
    assert proxied["ip_allow"] == ["10.248.0.1"]


def test_aide_unit_does_not_change_what_the_scan_sees(tmp_path: Path) -> None:
    unit = directives(rendered_units(plan_of(tmp_path))[layout.AIDE_INIT_UNIT])
    # These would hide or replace parts of the tree, and the unsandboxed daily check would report the difference.
    for option in ("PrivateTmp", "PrivateDevices", "ProtectKernelModules", "ProtectProc", "ProcSubset",
                   "PrivateUsers", "InaccessiblePaths", "TemporaryFileSystem"):
        assert option not in unit, option
    assert unit["ProtectHome"] == ["read-only"] and unit["ReadWritePaths"] == [layout.AIDE_DB_DIR]
    # AIDE's own account with the one capability of Debian's dailyaidecheck.service: no user switch (capsh) needed.
    assert unit["User"] == [layout.AIDE_USER] and unit["AmbientCapabilities"] == ["CAP_DAC_READ_SEARCH"]
    assert unit["CapabilityBoundingSet"] == ["CAP_DAC_READ_SEARCH"]
    # Build, then install, in ONE process (a second ExecStartPost process sometimes cannot join the unit's cgroup
    # under systemd-nspawn: 219/CGROUP); the paths are the shell's arguments ($$ is systemd's literal $).
    assert "ExecStartPost" not in unit
    (exec_start,) = unit["ExecStart"]
    argv = shlex.split(exec_start.replace("$$", "$"))
    assert argv[:2] == ["/bin/sh", "-ec"] and argv[3:] == ["aide-init", layout.AIDE_CONF, layout.AIDE_DB_NEW, layout.AIDE_DB]
    assert argv[2] == '/usr/bin/aide --config="$1" --init; exec /bin/cp -f "$2" "$3"'


# --- per-tenant limits and egress -----------------------------------------------------------------------------

def test_tenant_dropin_has_default_limits_and_loopback_only(tmp_path: Path) -> None:
    tenant, files = tenant_files(plan_of(tmp_path), "awo-kiel")
    dropin = directives(files[tenant["unit_dropin"]])
    limits = policy.SYNAPSE_LIMITS
    assert dropin["MemoryHigh"] == [f"{limits['memory_high_mb']}M"] and dropin["MemoryMax"] == [f"{limits['memory_max_mb']}M"]
    assert dropin["CPUWeight"] == [str(limits["cpu_weight"])] and dropin["TasksMax"] == [str(limits["tasks_max"])]
    assert dropin["LimitNOFILE"] == [str(limits["open_files"])]
    assert dropin["IPAddressDeny"] == ["any"] and dropin["IPAddressAllow"] == ["localhost"]
    assert tenant["unit_dropin"] == f"/etc/systemd/system/{tenant['unit']}.d/counselkit.conf"
    rules = [line for line in files[tenant["egress_rules"]].splitlines() if line and not line.startswith("#")]
    assert rules == ['meta skuid "mx-awo-kiel" oif != "lo" counter reject with icmpx admin-prohibited']


def test_federating_tenant_gets_its_own_limits_and_the_internet_but_no_internal_network(tmp_path: Path) -> None:
    tenant, files = tenant_files(plan_of(tmp_path), "caritas-flensburg")
    dropin = directives(files[tenant["unit_dropin"]])
    assert dropin["MemoryMax"] == ["4096M"] and dropin["MemoryHigh"] == ["3072M"] and dropin["TasksMax"] == ["512"]
    assert dropin["CPUWeight"] == [str(policy.SYNAPSE_LIMITS["cpu_weight"])]  # not overridden: the default
    assert "IPAddressDeny" not in dropin
    rules = files[tenant["egress_rules"]]
    assert 'meta skuid "mx-caritas-flensburg" oif != "lo" meta l4proto { tcp, udp } th dport 53 accept' in rules
    for network in (*policy.INTERNAL_NETWORKS_V4, *policy.INTERNAL_NETWORKS_V6):
        assert network in rules


def test_nftables_conf_includes_the_egress_rules_in_its_output_chain(tmp_path: Path) -> None:
    conf = render.render_host_files(host_context(plan_of(tmp_path)))[layout.NFTABLES_CONF]
    output_chain = conf[conf.index("chain output"):]
    assert f'include "{layout.NFTABLES_EGRESS_DIR}/*.nft"' in output_chain.split("}")[0]


@pytest.mark.parametrize(("limits", "field", "message"), [
    ({"memory_high_mb": 2048, "memory_max_mb": 1024}, "tenants[0].limits", "memory_high_mb (2048) is above memory_max_mb"),
    ({"tasks_max": 4}, "tenants[0].limits.tasks_max", "greater than or equal to 32"),
    ({"cpu_weight": True}, "tenants[0].limits.cpu_weight", "valid integer"),
    ({"open_files": "lots"}, "tenants[0].limits.open_files", "valid integer"),
    ({"memory": 1}, "tenants[0].limits.memory", "unknown field 'memory'"),
])
def test_bad_limits_are_reported_with_their_field(tmp_path: Path, limits: dict, field: str, message: str) -> None:
    from counselkit.load import load_inventory
    from counselkit.problems import InputError

    data = example_data()
    data["tenants"][0]["limits"] = limits
    with pytest.raises(InputError) as caught:
        load_inventory(write_yaml(tmp_path / "tenants.yaml", data))
    found = [(p.field, p.message) for p in caught.value.problems]
    assert any(f == field and message in m for f, m in found), found


# --- the audit check, on synthetic systemd-analyze output ------------------------------------------------------

def analyze_output(scores: dict[str, float]) -> str:
    """What `systemd-analyze security UNIT...` prints: a table per unit, then its overall line."""
    blocks = []
    for unit, score in scores.items():
        label = "OK 🙂" if score <= 2.0 else "EXPOSED 🙁"
        blocks.append("  NAME   DESCRIPTION   EXPOSURE\n✗ PrivateNetwork=   Service has access to the host's network   0.5\n"
                      f"\n→ Overall exposure level for {unit}: {score:.1f} {label}\n")
    return "".join(blocks)


class FakeContext(SimpleNamespace):
    """Just what units_exposure_ok reads: the plan, this host's tenants and two commands' output."""

    def out(self, *argv: str) -> str:
        if argv[:2] == ("systemctl", "show"):
            units = [a for a in argv[2:] if not a.startswith("--")]
            return "\n\n".join(f"Id={u}\nLoadState={'loaded' if u in self.loaded else 'not-found'}" for u in units)
        raise AssertionError(f"unexpected command {argv}")

    def run(self, *argv: str) -> SimpleNamespace:
        assert argv[:2] == ("systemd-analyze", "security"), argv
        self.analyzed = [a for a in argv[2:] if not a.startswith("--")]
        return SimpleNamespace(rc=0, stdout=analyze_output({u: self.scores[u] for u in self.analyzed}), stderr="")


def fake_context(tmp_path: Path, scores: dict[str, float] | None = None, missing: tuple[str, ...] = ()) -> FakeContext:
    plan = plan_of(tmp_path)
    host = plan.hosts[0]
    ctx = FakeContext(plan=plan, plan_host=host, tenants=host.tenants)
    units = counselkit_units(ctx)
    ctx.loaded = [u for u in units if u not in missing]
    ctx.scores = {u: 1.4 for u in units} | (scores or {})
    return ctx


def test_exposure_check_passes_when_every_unit_is_ok(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path)
    finding = units_exposure_ok(ctx)
    assert finding.status == "pass", finding
    assert set(ctx.analyzed) == set(ctx.loaded) and layout.KEYCLOAK_UNIT in ctx.analyzed
    assert "counselkit-backup@awo-kiel.service" in ctx.analyzed and "matrix-synapse@skf-husum.service" in ctx.analyzed


def test_exposure_check_fails_on_a_weak_unit(tmp_path: Path) -> None:
    finding = units_exposure_ok(fake_context(tmp_path, {"counselkit-backup@awo-kiel.service": 8.0}))
    assert finding.status == "fail"
    assert finding.found == f"counselkit-backup@awo-kiel.service: exposure 8.0 (> {UNIT_EXPOSURE_MAX:.1f})"


def test_exposure_check_fails_at_2_1_and_passes_at_2_0(tmp_path: Path) -> None:
    assert units_exposure_ok(fake_context(tmp_path, {layout.AIDE_INIT_UNIT: 2.0})).status == "pass"
    assert units_exposure_ok(fake_context(tmp_path, {layout.AIDE_INIT_UNIT: 2.1})).status == "fail"


def test_exposure_check_names_units_that_are_not_installed(tmp_path: Path) -> None:
    finding = units_exposure_ok(fake_context(tmp_path, missing=(layout.KEYCLOAK_UNIT,)))
    assert finding.status == "pass" and f"{layout.KEYCLOAK_UNIT}: not installed (not assessed)" in finding.found
    nothing = fake_context(tmp_path / "n", missing=tuple(counselkit_units(fake_context(tmp_path / "m"))))
    assert units_exposure_ok(nothing).status == "fail"


def test_exposure_scores_reads_every_overall_line() -> None:
    text = analyze_output({"a@x.service": 1.5, "b.service": 9.6})
    assert exposure_scores(text) == {"a@x.service": 1.5, "b.service": 9.6}
    assert exposure_scores("no table here") == {}
    assert re.search(r"Overall exposure level for", text)


def test_both_engines_give_restic_the_same_no_proxy(tmp_path: Path) -> None:
    # The backup's address allow-list assumes restic reaches no_proxy hosts directly: Ansible's restic.env must say so too.
    from counselkit.render import host_vars  # both engines' host data (the Ansible role reads counselkit.backup)

    plan = plan_of(tmp_path, s3_endpoint=LAB_S3, proxy=LAB_PROXY, no_proxy=["10.248.0.1"])
    assert host_vars(plan, plan.hosts[0].name)["backup"]["job_extra"]["no_proxy"] == backup_render.no_proxy(plan)
    assert backup_render.no_proxy(plan).split(",") == ["localhost", "127.0.0.1", "::1", "10.248.0.1"]


def backup_rules(plan) -> list[str]:
    text = next(f.content for f in backup_render.common_files(plan) if f.path == layout.BACKUP_EGRESS_RULES)
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_backup_egress_rules_match_the_jobs_group(tmp_path: Path) -> None:
    group = f'meta skgid "{layout.BACKUP_GROUP}"'
    unit = directives(rendered_units(plan_of(tmp_path / "a"))[layout.BACKUP_SERVICE_TEMPLATE])
    assert unit["Group"] == [layout.BACKUP_GROUP] and "CAP_SETGID" not in unit["CapabilityBoundingSet"][0]
    lab = plan_of(tmp_path / "b", s3_endpoint=LAB_S3, proxy=LAB_PROXY, no_proxy=["10.248.0.1"])
    assert backup_rules(lab) == [f"{group} ip daddr 10.248.0.1 tcp dport 8888 accept",
                                 f"{group} ip daddr 10.248.0.1 tcp dport 9000 accept",
                                 f'{group} oif != "lo" counter reject with icmpx admin-prohibited']
    # A named endpoint: DNS and its port (443) on any address, nothing else.
    assert backup_rules(plan_of(tmp_path / "c")) == [f"{group} meta l4proto {{ tcp, udp }} th dport 53 accept",
                                                     f"{group} tcp dport 443 accept",
                                                     f'{group} oif != "lo" counter reject with icmpx admin-prohibited']
