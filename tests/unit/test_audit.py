"""The audit without the lab: catalogue integrity, the read-only guard, reports, and checks against this machine."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import testinfra

from counselkit.audit import catalogue as cat
from counselkit.audit.checks import CHECKS
from counselkit.audit.context import Target
from counselkit.audit.guard import ReadOnlyViolation, Transcript, check_command, guard_backend, psql_command
from counselkit.audit.report import render_html, render_junit, write_reports
from counselkit.audit.runner import AuditRun, CheckResult, ControlResult, HostResult, LynisResult, audit_host, parse_lynis
from counselkit.plan import load_plan
from tests.support import EXAMPLE

REQUIRED_AREAS = {"SSH", "Accounts and sudo", "Kernel and network hardening", "Firewall", "Patching", "Logging and time",
                  "TLS and headers", "PostgreSQL isolation", "Synapse sandboxing", "Synapse registration and federation",
                  "Tenant isolation", "Secrets at rest", "Backups", "Service sandboxing"}


# --- catalogue -----------------------------------------------------------------------------------------------

def test_catalogue_is_sound_and_covers_every_area() -> None:
    catalogue = cat.load_catalogue()
    assert cat.problems(catalogue) == []
    assert {c.area for c in catalogue.controls} >= REQUIRED_AREAS
    assert all(c.bsi and c.checks for c in catalogue.controls)
    assert {n for c in catalogue.controls for n in c.checks} == set(CHECKS)
    assert "2023" in catalogue.edition


def test_catalogue_problems_are_found() -> None:
    good = cat.load_catalogue()
    first = good.controls[0]
    broken = dataclasses.replace(good, controls=(
        *good.controls,
        dataclasses.replace(first),  # duplicate id
        dataclasses.replace(first, id="CK-XYZ-99", bsi=(), checks=("no_such_check",)),
        dataclasses.replace(first, id="CK-XYZ-98", bsi=(cat.BsiRef("SYS.1.3.8", "bad id", "2023"),)),
    ))
    found = "\n".join(cat.problems(broken))
    assert f"duplicate control id {first.id}" in found
    assert "CK-XYZ-99: no BSI reference" in found
    assert "unknown check no_such_check" in found
    assert "SYS.1.3.8 is not a BSI requirement id" in found
    dropped = dataclasses.replace(good, controls=good.controls[1:])
    assert any("is not referenced by any control" in p for p in cat.problems(dropped))


# --- read-only guard -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    "rm -rf /tmp/x", "touch /etc/counselkit-audit", "sysctl -w kernel.sysrq=1", "sysctl kernel.sysrq=1",
    "find /var -name x -delete", "find / -exec rm {} +", "cat /etc/passwd > /tmp/copy", "cat /etc/passwd | tee /tmp/x",
    "cat $(rm -rf /tmp/x)", "echo `id`", "true; rm -rf /tmp/x", "true && reboot", "systemctl restart ssh",
    "systemctl stop nftables", "nft flush ruleset", "nft add rule inet filter input accept", "apt-get install lynis",
    "passwd -d root", "auditctl -D", "timedatectl set-ntp false", "journalctl --vacuum-size=1M", "sed -i s/a/b/ /etc/x",
    "openssl req -new -out /tmp/x", "runuser -u root -- bash", "LD_PRELOAD=/tmp/x.so cat /etc/passwd",
    "runuser -u postgres -- psql -c 'DROP DATABASE x'",
    "runuser -u postgres -- psql -c 'SET default_transaction_read_only = on' -c 'DELETE FROM pg_authid'",
    "runuser -u postgres -- psql -c 'SET default_transaction_read_only = on' -c 'SELECT 1; DROP TABLE x'",
    "runuser -u postgres -- psql -f /tmp/evil.sql -c 'SET default_transaction_read_only = on' -c 'SELECT 1'",
])
def test_guard_refuses_commands_that_could_write(command: str) -> None:
    with pytest.raises(ReadOnlyViolation):
        check_command(command)


@pytest.mark.parametrize("command", [
    "sshd -T", "nft -j list ruleset", "ss -tlnpH", "sysctl -n kernel.kptr_restrict", "systemctl show ssh.service --property=User",
    "getent passwd", "passwd -S -a", "auditctl -l", "timedatectl show", "apt-config dump", "stat -c '%n %U %G %a' /etc",
    "find /etc/counselkit -type f -perm /o+rw -printf '%p %u:%g %m\\n'", "dpkg-query -W -f '${Status}' sudo",
    "systemd-analyze cat-config systemd/journald.conf", "command -v ss", "cat /var/log/lynis-report.dat",
])
def test_guard_allows_read_only_commands(command: str) -> None:
    check_command(command)


def test_guard_allows_read_only_sql_only() -> None:
    import shlex

    check_command(shlex.join(psql_command("SELECT rolname FROM pg_roles")))
    check_command(shlex.join(psql_command("SHOW password_encryption")))
    with pytest.raises(ReadOnlyViolation):
        check_command(shlex.join(psql_command("UPDATE pg_authid SET rolsuper = true")))


def test_guarded_testinfra_host_never_runs_a_refused_command(tmp_path: Path) -> None:
    transcript = Transcript()
    host = testinfra.get_host("local://")
    guard_backend(host.backend, transcript)
    victim = tmp_path / "must-not-exist"
    with pytest.raises(ReadOnlyViolation):
        host.run(f"touch {victim}")
    assert not victim.exists()
    # testinfra's own modules go through the same guard
    assert host.file("/etc/passwd").exists
    assert host.file("/etc/passwd").user == "root"
    commands = [e["command"] for e in transcript.entries]
    assert any(c.startswith("touch") for c in commands)  # recorded as refused
    assert "REFUSED" in transcript.entries[0]["stderr"]


# --- reports -----------------------------------------------------------------------------------------------

def synthetic_run() -> AuditRun:
    catalogue = cat.load_catalogue()
    ssh, krn, bak = catalogue.control("CK-SSH-01"), catalogue.control("CK-KRN-02"), catalogue.control("CK-BAK-02")
    evidence = [{"command": "sshd -T", "rc": 0, "stdout": "passwordauthentication yes\n<script>alert(1)</script>", "stderr": ""}]
    controls = [
        ControlResult(ssh, "fail", [
            CheckResult("ssh_password_auth_disabled", "statement", "fail", "passwordauthentication no",
                        "passwordauthentication yes (expected no)", "", evidence, 0.1),
            CheckResult("ssh_root_login_key_only", "statement", "pass", "permitrootlogin no", "permitrootlogin no", "", [], 0.1)]),
        ControlResult(krn, "na", [CheckResult("sysctl_kernel", "statement", "na", "kernel.kptr_restrict=2",
                                              "kernel.kptr_restrict = 0 (host kernel)", "not applicable: container (systemd-nspawn)", [], 0.2)]),
        ControlResult(bak, "error", [CheckResult("backup_repository_restorable", "statement", "error", "snapshots",
                                                 "no secrets store given", "not evaluated: pass --secrets", [], 0.0)]),
        ControlResult(catalogue.control("CK-NET-02"), "pass", [CheckResult("listeners_public_only", "s", "pass", "e", "f", "", [], 0.0)]),
    ]
    host = HostResult("node1", "10.248.1.2", "ssh://root@10.248.1.2:22", "2026-01-01T00:00:00+00:00",
                      "2026-01-01T00:00:05+00:00", "systemd-nspawn", "", controls,
                      LynisResult(87, [], 12, "3.0.8", "2026-01-01 00:00:00"))
    return AuditRun([host], "0.1.0", "abc123", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:06+00:00", "lab",
                    catalogue.edition)


def test_html_report_shows_status_expected_found_evidence_and_versions() -> None:
    html = render_html(synthetic_run())
    for text in ("CK-SSH-01", "passwordauthentication yes (expected no)", "passwordauthentication no", "N/A",
                 "not applicable: container (systemd-nspawn)", "NOT RUN", "not evaluated: pass --secrets",
                 "0.1.0", "abc123", "hardening index <b>87</b>", "SYS.1.3.A8", "$ sshd -T", "2026-01-01T00:00:00+00:00"):
        assert text in html, text
    assert "<script>alert(1)</script>" not in html  # evidence is escaped
    assert "http://" not in html and "https://" not in html and "<link" not in html  # self-contained


def test_junit_is_valid_with_one_testcase_per_host_and_control() -> None:
    root = ET.fromstring(render_junit(synthetic_run()))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "1"
    assert suite.get("errors") == "1" and suite.get("skipped") == "1"
    cases = suite.findall("testcase")
    assert len(cases) == 4
    failure = cases[0].find("failure")
    assert failure is not None and "passwordauthentication no" in (failure.get("message") or "")
    assert "passwordauthentication yes" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["git.commit"] == "abc123" and props["lynis.hardening_index"] == "87"


def test_lynis_report_parsing() -> None:
    result = parse_lynis("lynis_version=3.0.8\nhardening_index=64\nwarning[]=SSH-7408|x|\nsuggestion[]=A|b|\n"
                         "report_datetime_end=2026-01-01 10:00:00\n")
    assert (result.hardening_index, result.warnings, result.suggestions, result.version) == (64, ["SSH-7408|x|"], 1, "3.0.8")


def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: the test command must apt-get install chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    paths = write_reports(synthetic_run(), tmp_path / "report")
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "--window-size=1280,2000", paths["html"].resolve().as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 30_000  # a blank 1280x2000 page compresses to a few KB; the report is far larger
    assert len(set(data[1000:20000])) > 200  # varied content, not a flat colour


# --- checks against this (unhardened) machine -----------------------------------------------------------------

def _tree_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in files:
            try:
                stat = path.stat()
                digest.update(f"{path}:{stat.st_mode}:{stat.st_uid}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            except OSError:
                continue
    return digest.hexdigest()


@pytest.fixture(scope="module")
def local_result() -> HostResult:
    plan = load_plan(EXAMPLE)
    before = _tree_digest([Path("/etc"), Path("/var/lib/dpkg/status")])
    result = audit_host(Target(plan.hosts[0].name, "local://", "127.0.0.1", plan.hosts[0]), plan)
    after = _tree_digest([Path("/etc"), Path("/var/lib/dpkg/status")])
    result.__dict__["_digests"] = (before, after)
    return result


def test_checks_fail_on_an_unhardened_machine(local_result: HostResult) -> None:
    status = {c.control.id: c.status for c in local_result.controls}
    # This machine is neither deployed nor hardened: these controls must fail, proving the checks can fail.
    for control in ("CK-ACC-01", "CK-SEC-01", "CK-SYN-01", "CK-TEN-01", "CK-WEB-03", "CK-LOG-01"):
        assert status[control] == "fail", (control, status[control])
    failing = next(c for c in local_result.controls if c.control.id == "CK-ACC-01").checks[0]
    assert failing.expected and "no such account" in failing.found


def test_no_check_trips_the_read_only_guard(local_result: HostResult) -> None:
    for control in local_result.controls:
        for check in control.checks:
            assert "read-only guard refused" not in check.reason, (check.name, check.reason)
            assert not check.reason.startswith("check could not run"), (check.name, check.reason)


def test_local_audit_changed_nothing(local_result: HostResult) -> None:
    before, after = local_result.__dict__["_digests"]
    assert before == after
