"""A small ISO Schematron (queryBinding xslt2) to XSLT 3.0 compiler, for running the official XRechnung rules.

Why it exists: KoSIT publishes the XRechnung rules only as .sch sources, and neither SchXslt nor the ISO
skeleton is available from the package registries this project can use. This compiler implements the subset
of ISO Schematron those sources use, with the same semantics as the ISO skeleton:

- <include href> (a whole pattern file), <ns>, schema-level <xsl:function> (copied verbatim);
- <pattern> with pattern-level <let> (global variables, as in the skeleton);
- <rule context> with rule-level <let>; within one pattern the first rule whose context matches a node fires
  (implemented with descending template priorities in one mode per pattern, visiting every node);
- <assert>/<report> with @id, @flag, @test and message content with <name/>, <name path>, <value-of select>;
- phases are ignored: every pattern runs (the XRechnung phase lists all patterns anyway).

Output is SVRL (svrl:failed-assert / svrl:successful-report with @id, @flag, @location, svrl:text), the same
shape as the compiled EN 16931 rules, so one reader handles both. Unsupported elements raise an error rather
than being skipped silently.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"
XS = "http://www.w3.org/2001/XMLSchema"
_IGNORED = {"title", "p", "phase", "diagnostics", "properties"}


class SchematronCompileError(Exception):
    pass


def compile_schematron(sch_file: Path) -> str:
    """Compile `sch_file` (with its includes) to the text of an XSLT 3.0 stylesheet producing SVRL."""
    schema = etree.parse(str(sch_file)).getroot()
    if schema.tag != f"{{{SCH}}}schema":
        raise SchematronCompileError(f"{sch_file}: not an ISO Schematron schema")
    if schema.get("queryBinding", "xslt2") not in ("xslt2", "xslt3"):
        raise SchematronCompileError(f"{sch_file}: queryBinding {schema.get('queryBinding')} is not supported")
    namespaces = {p: u for p, u in schema.nsmap.items() if p}
    for ns in schema.iterfind(f"{{{SCH}}}ns"):
        namespaces[ns.get("prefix")] = ns.get("uri")
    namespaces.update({"xsl": XSL, "svrl": SVRL, "xs": XS, "sch": SCH})

    out = etree.Element(f"{{{XSL}}}stylesheet", nsmap=namespaces, version="3.0")
    etree.SubElement(out, f"{{{XSL}}}output", method="xml", indent="no")
    patterns: list[etree._Element] = []
    for child in schema:
        if not isinstance(child.tag, str):
            continue
        if child.tag == f"{{{XSL}}}function":
            out.append(_copy(child))
        elif child.tag == f"{{{SCH}}}pattern":
            patterns.append(child)
        elif child.tag == f"{{{SCH}}}include":
            included = etree.parse(str((sch_file.parent / child.get("href")).resolve())).getroot()
            if included.tag != f"{{{SCH}}}pattern":
                raise SchematronCompileError(f"include {child.get('href')}: only included patterns are supported")
            patterns.append(included)
        elif child.tag == f"{{{SCH}}}let":
            _variable(out, child)
        elif etree.QName(child).localname in _IGNORED or child.tag == f"{{{SCH}}}ns":
            continue
        else:
            raise SchematronCompileError(f"unsupported Schematron element <{etree.QName(child).localname}>")

    root_template = etree.SubElement(out, f"{{{XSL}}}template", match="/")
    report = etree.SubElement(root_template, f"{{{SVRL}}}schematron-output", schemaVersion="iso")
    report.set("title", (schema.findtext(f"{{{SCH}}}title") or "").strip())
    for index, pattern in enumerate(patterns):
        mode = f"M{index}"
        active = etree.SubElement(report, f"{{{SVRL}}}active-pattern")
        etree.SubElement(active, f"{{{XSL}}}attribute", name="id").text = pattern.get("id", mode)
        etree.SubElement(report, f"{{{XSL}}}apply-templates", select="/", mode=mode)
        _pattern(out, pattern, mode)
    return etree.tostring(out, encoding="unicode")


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def _variable(parent: etree._Element, let: etree._Element) -> None:
    if let.get("value") is None:
        raise SchematronCompileError(f"<let name='{let.get('name')}'> without @value is not supported")
    etree.SubElement(parent, f"{{{XSL}}}variable", name=let.get("name"), select=let.get("value"))


def _pattern(out: etree._Element, pattern: etree._Element, mode: str) -> None:
    if pattern.get("abstract") == "true" or pattern.get("is-a"):
        raise SchematronCompileError("abstract patterns are not supported")
    rules = []
    for child in pattern:
        if not isinstance(child.tag, str) or etree.QName(child).localname in _IGNORED:
            continue
        if child.tag == f"{{{SCH}}}let":
            _variable(out, child)  # pattern-level lets are global variables, as in the ISO skeleton
        elif child.tag == f"{{{SCH}}}rule":
            rules.append(child)
        else:
            raise SchematronCompileError(f"unsupported element <{etree.QName(child).localname}> in a pattern")
    count = len(rules)
    for position, rule in enumerate(rules):
        if rule.get("abstract") == "true" or rule.find(f"{{{SCH}}}extends") is not None:
            raise SchematronCompileError("abstract rules are not supported")
        context = rule.get("context")
        template = etree.SubElement(out, f"{{{XSL}}}template", match=context, mode=mode,
                                    priority=str(1000 + count - position))
        fired = etree.SubElement(template, f"{{{SVRL}}}fired-rule")
        etree.SubElement(fired, f"{{{XSL}}}attribute", name="context").text = context
        for child in rule:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "let":
                _variable(template, child)
            elif name in ("assert", "report"):
                _check(template, child, name)
            elif name not in _IGNORED:
                raise SchematronCompileError(f"unsupported element <{name}> in a rule")
        etree.SubElement(template, f"{{{XSL}}}apply-templates", select="@*|node()", mode=mode)
    etree.SubElement(out, f"{{{XSL}}}template", match="text()", mode=mode, priority="-1")
    walk = etree.SubElement(out, f"{{{XSL}}}template", match="@*|node()", mode=mode, priority="-2")
    etree.SubElement(walk, f"{{{XSL}}}apply-templates", select="@*|node()", mode=mode)


def _check(template: etree._Element, check: etree._Element, kind: str) -> None:
    test = check.get("test")
    condition = f"not({test})" if kind == "assert" else f"({test})"
    branch = etree.SubElement(template, f"{{{XSL}}}if", test=condition)
    result = etree.SubElement(branch, f"{{{SVRL}}}failed-assert" if kind == "assert" else f"{{{SVRL}}}successful-report")
    for attr in ("id", "flag", "role"):
        if check.get(attr) is not None:
            etree.SubElement(result, f"{{{XSL}}}attribute", name=attr).text = check.get(attr)
    if check.get("flag") is None:
        etree.SubElement(result, f"{{{XSL}}}attribute", name="flag").text = "fatal"
    etree.SubElement(result, f"{{{XSL}}}attribute", name="test").text = test
    etree.SubElement(result, f"{{{XSL}}}attribute", name="location", select="path(.)")
    text = etree.SubElement(result, f"{{{SVRL}}}text")
    _message(text, check)


def _message(target: etree._Element, source: etree._Element) -> None:
    def add_text(value: str | None) -> None:
        if not value:
            return
        node = etree.SubElement(target, f"{{{XSL}}}text")
        node.text = value

    add_text(source.text)
    for child in source:
        if isinstance(child.tag, str):
            name = etree.QName(child).localname
            if name == "name":
                etree.SubElement(target, f"{{{XSL}}}value-of", select=f"name({child.get('path', '.')})")
            elif name == "value-of":
                etree.SubElement(target, f"{{{XSL}}}value-of", select=child.get("select"))
            elif name in ("emph", "dir", "span"):
                add_text("".join(child.itertext()))
            else:
                raise SchematronCompileError(f"unsupported element <{name}> in a message")
        add_text(child.tail)
