"""Audit reports: self-contained HTML for people, JUnit XML for CI, JSON for machines."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from jinja2 import Environment, select_autoescape

from .runner import AuditRun

LYNIS_TARGET = 85
STATUS_LABEL = {"pass": "PASS", "fail": "FAIL", "na": "N/A", "error": "NOT RUN"}

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>counselkit audit report — {{ run.started }}</title>
<style>
 :root { --pass:#1b7f3b; --fail:#b3261e; --na:#6b6b6b; --error:#a35c00; --line:#d7d7d7; }
 body { font: 15px/1.45 "DejaVu Sans", Arial, sans-serif; color:#1d1d1d; margin:2rem auto; max-width:72rem; padding:0 1rem; }
 h1 { font-size:1.6rem; margin:0 0 .3rem; } h2 { font-size:1.3rem; margin-top:2.2rem; border-bottom:2px solid #333; }
 table { border-collapse:collapse; width:100%; } th, td { text-align:left; vertical-align:top; padding:.35rem .5rem; border-bottom:1px solid var(--line); }
 .meta td:first-child { width:14rem; color:#555; }
 .badge { display:inline-block; min-width:4.2rem; text-align:center; font-weight:bold; color:#fff; border-radius:3px; padding:.05rem .4rem; font-size:.85rem; }
 .pass { background:var(--pass); } .fail { background:var(--fail); } .na { background:var(--na); } .error { background:var(--error); }
 .summary span { margin-right:1rem; }
 details.control { border:1px solid var(--line); border-left:6px solid var(--na); margin:.6rem 0; padding:.4rem .7rem; }
 details.control.s-pass { border-left-color:var(--pass); } details.control.s-fail { border-left-color:var(--fail); }
 details.control.s-error { border-left-color:var(--error); }
 summary { cursor:pointer; } .cid { font-family:monospace; font-weight:bold; margin:0 .5rem; }
 .bsi { color:#444; font-size:.9rem; } .unverified { color:var(--error); }
 pre { white-space:pre-wrap; word-break:break-word; background:#f6f6f6; padding:.4rem .6rem; margin:.2rem 0; font-size:.82rem; max-height:24rem; overflow:auto; }
 .check { margin:.5rem 0 .8rem 1rem; } .label { color:#555; font-size:.85rem; font-weight:bold; }
 .found-fail { background:#fdecea; } .expected { background:#eef6ee; }
 @media print { details { break-inside:avoid; } details:not([open]) > :not(summary) { display:block; } pre { max-height:none; } body { margin:0; } }
</style></head>
<body>
<h1>counselkit infrastructure audit</h1>
<p>Read-only audit of the hosts of inventory <b>{{ run.inventory }}</b> against the counselkit controls catalogue
({{ catalogue_size }} controls, mapped to the BSI {{ run.edition }}).</p>
<table class="meta">
<tr><td>Started / finished (UTC)</td><td>{{ run.started }} / {{ run.finished }}</td></tr>
<tr><td>counselkit version</td><td>{{ run.version }}</td></tr>
<tr><td>git commit</td><td><code>{{ run.commit }}</code></td></tr>
<tr><td>Result</td><td class="summary">{% for s, n in counts.items() %}<span><span class="badge {{ s }}">{{ label[s] }}</span> {{ n }}</span>{% endfor %}
 — overall <span class="badge {{ 'fail' if run.failed else 'pass' }}">{{ 'FAIL' if run.failed else 'PASS' }}</span></td></tr>
</table>
<p class="bsi">How to read: each control states a requirement and the BSI requirements it supports. It passes when all its checks pass.
<b>N/A</b> means the control cannot apply on this host (the reason is given, e.g. a kernel setting inside a container); <b>NOT RUN</b>
means a check could not be evaluated (reason given) and counts as a failure for CI. Every check lists what was expected, what was found
and the exact read-only commands it ran, with their output, so the result can be reproduced by hand.</p>

<h2>Hosts</h2>
<table><tr><th>Host</th><th>Address</th><th>Audited (UTC)</th><th>Container</th><th>Controls</th><th>Lynis hardening index</th></tr>
{% for h in run.hosts %}<tr><td><a href="#host-{{ h.name }}">{{ h.name }}</a></td><td>{{ h.address }}</td><td>{{ h.started }}</td>
<td>{{ h.container or "no" }}</td><td><span class="badge {{ h.status }}">{{ label[h.status] }}</span></td>
<td>{% if h.lynis and h.lynis.hardening_index is not none %}{{ h.lynis.hardening_index }} (target ≥ {{ lynis_target }}),
 {{ h.lynis.warnings|length }} warnings{% else %}no Lynis report on the host{% endif %}</td></tr>
{% endfor %}</table>

{% for h in run.hosts %}
<h2 id="host-{{ h.name }}">Host {{ h.name }} ({{ h.address }})</h2>
<table class="meta">
<tr><td>Reached as</td><td><code>{{ h.hostspec }}</code></td></tr>
<tr><td>Audited (UTC)</td><td>{{ h.started }} – {{ h.finished }}</td></tr>
<tr><td>Runs in a container</td><td>{{ h.container or "no" }}</td></tr>
<tr><td>Lynis (external measure)</td><td>{% if h.lynis %}hardening index <b>{{ h.lynis.hardening_index }}</b> (target ≥ {{ lynis_target }}),
 {{ h.lynis.warnings|length }} warnings, {{ h.lynis.suggestions }} suggestions; Lynis {{ h.lynis.version }}, run finished {{ h.lynis.finished }}
 {% for w in h.lynis.warnings %}<br>warning: <code>{{ w }}</code>{% endfor %}{% else %}no Lynis report (<code>/var/log/lynis-report.dat</code>) on the host{% endif %}</td></tr>
{% if h.error %}<tr><td>Error</td><td><span class="badge error">NOT RUN</span> {{ h.error }}</td></tr>{% endif %}
</table>
{% for c in h.controls %}
<details class="control s-{{ c.status }}"{% if c.status != 'pass' %} open{% endif %}>
<summary><span class="badge {{ c.status }}">{{ label[c.status] }}</span><span class="cid">{{ c.control.id }}</span>{{ c.control.requirement }}</summary>
<div class="bsi">{{ c.control.area }} · BSI: {% for b in c.control.bsi %}<b>{{ b.id }}</b> {{ b.title }}{% if b.verified == 'unverified' %} <span class="unverified">(ID unverified)</span>{% endif %}{% if not loop.last %}; {% endif %}{% endfor %}</div>
{% for k in c.checks %}
<div class="check"><span class="badge {{ k.status }}">{{ label[k.status] }}</span> <code>{{ k.name }}</code> — {{ k.statement }}
{% if k.reason %}<div><span class="label">Reason:</span> {{ k.reason }}</div>{% endif %}
{% if k.expected %}<div class="label">Expected</div><pre class="expected">{{ k.expected }}</pre>{% endif %}
{% if k.found %}<div class="label">Found</div><pre class="{{ 'found-fail' if k.status == 'fail' else '' }}">{{ k.found }}</pre>{% endif %}
{% if k.evidence %}<details><summary class="label">Evidence: {{ k.evidence|length }} command(s) run on the host</summary>
{% for e in k.evidence %}<pre>$ {{ e.command }}{% if e.rc is not none %}   [exit {{ e.rc }}]{% endif %}
{{ e.stdout }}{% if e.stderr %}
[stderr] {{ e.stderr }}{% endif %}</pre>{% endfor %}</details>{% endif %}
</div>
{% endfor %}
</details>
{% endfor %}
{% endfor %}
<h2>Scope</h2>
<p class="bsi">This report covers the technical controls the audit can observe on the hosts. Organisational requirements
(policies, responsibilities, training, physical security, contracts) are out of scope; see docs/audit.md.</p>
</body></html>
"""


def render_html(run: AuditRun, catalogue_size: int | None = None) -> str:
    from .catalogue import load_catalogue

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(TEMPLATE)
    return template.render(run=run, counts=run.counts(), label=STATUS_LABEL, lynis_target=LYNIS_TARGET,
                           catalogue_size=catalogue_size or len(load_catalogue().controls))


def render_junit(run: AuditRun) -> str:
    suites = ET.Element("testsuites", name="counselkit audit")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in run.hosts:
        suite = ET.SubElement(suites, "testsuite", name=f"audit.{host.name}", timestamp=host.started,
                              hostname=host.address)
        props = ET.SubElement(suite, "properties")
        for key, value in (("counselkit.version", run.version), ("git.commit", run.commit), ("host", host.hostspec),
                           ("container", host.container or "no"),
                           ("lynis.hardening_index", str(host.lynis.hardening_index) if host.lynis else "none"),
                           ("lynis.warnings", str(len(host.lynis.warnings)) if host.lynis else "none")):
            ET.SubElement(props, "property", name=key, value=value)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for control in host.controls:
            seconds = sum(k.seconds for k in control.checks)
            case = ET.SubElement(suite, "testcase", classname=f"audit.{host.name}",
                                 name=f"{control.control.id} {control.control.requirement}", time=f"{seconds:.2f}")
            counts["tests"] += 1
            detail = "\n\n".join(f"[{STATUS_LABEL[k.status]}] {k.name}\nexpected: {k.expected}\nfound: {k.found}"
                                 + (f"\nreason: {k.reason}" if k.reason else "") for k in control.checks)
            if control.status == "fail":
                counts["failures"] += 1
                first = next(k for k in control.checks if k.status == "fail")
                element = ET.SubElement(case, "failure", message=f"{first.name}: expected {first.expected}"[:500], type="fail")
                element.text = detail
            elif control.status == "error":
                counts["errors"] += 1
                first = next(k for k in control.checks if k.status == "error")
                element = ET.SubElement(case, "error", message=f"{first.name}: {first.reason}"[:500], type="not-run")
                element.text = detail
            elif control.status == "na":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message="; ".join(k.reason for k in control.checks if k.reason)[:500])
            ET.SubElement(case, "system-out").text = detail
        for key, value in counts.items():
            suite.set(key, str(value))
            total[key] += value
    for key, value in total.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def to_json(run: AuditRun) -> str:
    return json.dumps(dataclasses.asdict(run), indent=2, ensure_ascii=False, default=str)


def write_reports(run: AuditRun, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / "audit.html", "junit": out_dir / "audit-junit.xml", "json": out_dir / "audit.json"}
    paths["html"].write_text(render_html(run), encoding="utf-8")
    paths["junit"].write_text(render_junit(run), encoding="utf-8")
    paths["json"].write_text(to_json(run), encoding="utf-8")
    return paths


def summary_lines(run: AuditRun) -> list[str]:
    lines: list[str] = []
    for host in run.hosts:
        lynis = f", Lynis {host.lynis.hardening_index}" if host.lynis else ""
        lines.append(f"{host.name} ({host.address}): {STATUS_LABEL[host.status]}{lynis}" + (f" — {host.error}" if host.error else ""))
        for control in host.controls:
            if control.status != "pass":
                reasons = "; ".join(f"{k.name}: {k.reason or k.found.splitlines()[0] if (k.reason or k.found) else k.status}"
                                    for k in control.checks if k.status != "pass")
                lines.append(f"  {STATUS_LABEL[control.status]:8} {control.control.id} {reasons[:200]}")
    return lines


def _unused(_: Any) -> None:  # keep the import of Any meaningful for type checkers
    return None
