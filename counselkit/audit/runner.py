"""Run the catalogue's checks against hosts and collect results with their evidence."""

from __future__ import annotations

import datetime
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import testinfra

from counselkit import __version__
from counselkit.plan import Plan

from .catalogue import Catalogue, Control, load_catalogue
from .checks import CHECKS
from .context import CheckContext, Finding, Status, Target
from .guard import ReadOnlyViolation, Transcript, guard_backend

LYNIS_REPORT = "/var/log/lynis-report.dat"


@dataclass
class CheckResult:
    name: str
    statement: str
    status: Status
    expected: str
    found: str
    reason: str
    evidence: list[dict[str, Any]]
    seconds: float


@dataclass
class ControlResult:
    control: Control
    status: Status
    checks: list[CheckResult]


@dataclass
class LynisResult:
    hardening_index: int | None
    warnings: list[str]
    suggestions: int
    version: str
    finished: str


@dataclass
class HostResult:
    name: str
    address: str
    hostspec: str
    started: str
    finished: str = ""
    container: str | None = None
    error: str = ""
    controls: list[ControlResult] = field(default_factory=list)
    lynis: LynisResult | None = None

    @property
    def status(self) -> Status:
        return combine([c.status for c in self.controls]) if self.controls else "error"


@dataclass
class AuditRun:
    hosts: list[HostResult]
    version: str
    commit: str
    started: str
    finished: str
    inventory: str
    edition: str

    @property
    def failed(self) -> bool:
        return any(c.status in {"fail", "error"} for h in self.hosts for c in h.controls) or \
            any(h.error for h in self.hosts) or not self.hosts

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "na": 0, "error": 0}
        for host in self.hosts:
            for control in host.controls:
                out[control.status] += 1
        return out


def combine(statuses: list[Status]) -> Status:
    if "fail" in statuses:
        return "fail"
    if "error" in statuses:
        return "error"
    if statuses and all(s == "na" for s in statuses):
        return "na"
    return "pass"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def git_commit(repo: Path | None = None) -> str:
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        result = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = result.stdout.strip() if result.returncode == 0 else "unknown"
    if commit != "unknown":
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        if dirty:
            commit += " (with uncommitted changes)"
    return commit


def connect(target: Target, transcript: Transcript) -> Any:
    kwargs: dict[str, Any] = {}
    if target.ssh_config:
        kwargs["ssh_config"] = str(target.ssh_config)
    if target.ssh_identity_file:
        kwargs["ssh_identity_file"] = str(target.ssh_identity_file)
    if target.ssh_extra_args:
        kwargs["ssh_extra_args"] = target.ssh_extra_args
    if target.hostspec.startswith("ssh://"):
        kwargs["controlpersist"] = 0  # no lingering master connection left behind
        kwargs["sudo"] = target.sudo
    host = testinfra.get_host(target.hostspec, **kwargs)
    guard_backend(host.backend, transcript)
    return host


def run_check(ctx: CheckContext, name: str) -> CheckResult:
    spec = CHECKS[name]
    mark = len(ctx.transcript.entries)
    start = time.monotonic()
    try:
        finding = spec.fn(ctx)
    except ReadOnlyViolation as exc:
        finding = Finding("error", "", "", f"check tried a command the read-only guard refused: {exc}")
    except Exception as exc:  # noqa: BLE001 - a broken check must show up as an error, not end the audit
        finding = Finding("error", "", "", f"check could not run: {type(exc).__name__}: {exc}")
    return CheckResult(name, spec.statement, finding.status, finding.expected, finding.found, finding.reason,
                       ctx.transcript.since(mark), round(time.monotonic() - start, 2))


def read_lynis(ctx: CheckContext) -> LynisResult | None:
    result = ctx.run("cat", LYNIS_REPORT)
    if result.rc != 0:
        return None
    return parse_lynis(result.stdout)


def parse_lynis(text: str) -> LynisResult:
    index: int | None = None
    warnings: list[str] = []
    suggestions = 0
    version = finished = ""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "hardening_index" and value.strip().isdigit():
            index = int(value)
        elif key == "warning[]":
            warnings.append(value.strip())
        elif key == "suggestion[]":
            suggestions += 1
        elif key == "lynis_version":
            version = value.strip()
        elif key == "report_datetime_end":
            finished = value.strip()
    return LynisResult(index, warnings, suggestions, version, finished)


def audit_host(target: Target, plan: Plan, catalogue: Catalogue | None = None, secrets: Any = None,
               only_controls: set[str] | None = None) -> HostResult:
    catalogue = catalogue or load_catalogue()
    transcript = Transcript()
    result = HostResult(target.name, target.address, target.hostspec, now())
    try:
        host = connect(target, transcript)
        probe = host.run("true")
        if probe.rc != 0:
            raise RuntimeError(probe.stderr or f"exit {probe.rc}")
    except Exception as exc:  # noqa: BLE001
        result.error = f"cannot reach {target.hostspec}: {exc}"
        result.finished = now()
        for control in catalogue.controls:
            result.controls.append(ControlResult(control, "error", [
                CheckResult(n, CHECKS[n].statement, "error", "", "", result.error, [], 0.0) for n in control.checks]))
        return result
    ctx = CheckContext(host=host, target=target, plan=plan, transcript=transcript, secrets=secrets)
    result.container = ctx.container
    for control in catalogue.controls:
        if only_controls and control.id not in only_controls:
            continue
        checks = [run_check(ctx, name) for name in control.checks]
        result.controls.append(ControlResult(control, combine([c.status for c in checks]), checks))
    result.lynis = read_lynis(ctx)
    result.finished = now()
    return result


def audit(targets: list[Target], plan: Plan, inventory: str, secrets: Any = None,
          only_controls: set[str] | None = None) -> AuditRun:
    catalogue = load_catalogue()
    started = now()
    hosts = [audit_host(t, plan, catalogue, secrets, only_controls) for t in targets]
    return AuditRun(hosts, __version__, git_commit(), started, now(), inventory, catalogue.edition)
