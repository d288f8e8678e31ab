"""`counselkit tenant add`: append one entry to tenants.yaml as text, so every comment and format stays as it was."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .load import validate_document
from .problems import InputError, Problem
from .yamlsource import parse_yaml, read_yaml, round_trip_yaml

_ADMIN = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>\s*$")


def entry_from_options(options: dict[str, Any]) -> dict[str, Any]:
    """Turn CLI options into a tenant entry; the model validates it together with the file afterwards."""
    admins = []
    for text in options["admins"]:
        match = _ADMIN.match(str(text))
        if not match:
            raise InputError([Problem("--admin", 0, 0, "admins", f"'{text}' is not of the form 'Name <email>'")])
        admins.append({"name": match["name"], "email": match["email"]})
    contract: dict[str, Any] = {"start": _date_or_text(options["start"])}
    if options.get("end"):
        contract["end"] = _date_or_text(options["end"])
    if options.get("plan_name"):
        contract["plan"] = options["plan_name"]
    billing: dict[str, Any] = {
        "address": {"street": options["street"], "postcode": str(options["postcode"]), "city": options["city"]},
        "email": options["billing_email"],
    }
    for key in ("buyer_reference", "cost_centre"):
        if options.get(key):
            billing[key] = options[key]
    branding: dict[str, Any] = {"imprint_url": options["imprint_url"], "privacy_url": options["privacy_url"]}
    if options.get("primary_color"):
        branding["primary_color"] = options["primary_color"]
    entry: dict[str, Any] = {
        "slug": options["slug"], "name": options["name"], "contract": contract, "seats": options["seats"],
        "admins": admins, "billing": billing, "branding": branding,
    }
    if options.get("host"):
        entry["host"] = options["host"]
    return entry


def _date_or_text(value: Any) -> Any:
    """A real YAML date when the text is one; otherwise the text, for the model to reject with its message."""
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return value


# Line breaks YAML counts but a plain "\n" split does not: line numbers from the parser would miss the text.
_OTHER_BREAKS = re.compile("\r(?!\n)|[\x85\u2028\u2029]")


def add_tenant(path: Path, entry: dict[str, Any]) -> None:
    """Append `entry`; the file keeps its line endings (LF or CRLF), and a symlink stays a symlink."""
    doc = read_yaml(path)
    target = path.resolve()  # a symlinked tenants.yaml is updated where it lives; the link itself stays
    original = _read_exact(target)
    newline = "\r\n" if "\r\n" in original and original.count("\r\n") == original.count("\n") else "\n"
    updated = _append_entry(original, doc.tree, entry, path, newline)
    new_doc = parse_yaml(updated, path)
    _, problems = validate_document(new_doc)
    if problems:
        raise InputError(problems)
    _write_atomically(target, updated)


def _read_exact(target: Path) -> str:
    """The text with its line endings as they are (read_text would turn CRLF into LF)."""
    with target.open(encoding="utf-8", newline="") as handle:
        text = handle.read()
    other = _OTHER_BREAKS.search(text)
    if other:
        line = text.count("\n", 0, other.start()) + 1
        raise InputError([Problem(str(target), line, 0, "", (
            f"line {line} holds a line break other than LF or CRLF (U+{ord(other[0]):04X}); "
            "tenant add cannot place the entry safely — remove it first; nothing was written"))])
    return text


def _lines(text: str) -> list[str]:
    """Lines with their endings, split at LF only (str.splitlines also splits at form feeds and U+2028)."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def _append_entry(text: str, tree: Any, entry: dict[str, Any], path: Path, newline: str = "\n") -> str:
    if not isinstance(tree, CommentedMap) or "platform" not in tree:
        raise InputError([Problem(str(path), 0, 0, "", "not a tenants.yaml (no 'platform:' mapping); nothing was written")])
    tenants = tree.get("tenants")
    lines = _lines(text)
    if isinstance(tenants, CommentedSeq) and len(tenants) > 0 and not tenants.fa.flow_style():
        item_column = tenants.lc.item(0)[1]  # column of the entry's first key, after "- "
        insert_at = _end_of_section(tree, "tenants", lines)
        block = _render(entry, item_column, newline)
        before = lines[:insert_at]
        if before and not before[-1].endswith("\n"):
            before[-1] += newline
        return "".join(before + [newline, block] + lines[insert_at:])
    if tenants is None or (isinstance(tenants, CommentedSeq) and len(tenants) == 0):
        line = tree.lc.key("tenants")[0] if "tenants" in tree else None
        block = _render(entry, 4, newline)
        if line is None:
            return text + ("" if text.endswith("\n") else newline) + f"{newline}tenants:{newline}" + block
        lines[line] = f"tenants:{newline}"
        return "".join(lines[: line + 1] + [block] + lines[line + 1:])
    raise InputError([Problem(str(path), 0, 0, "tenants", "must be a block list of entries to add to; nothing was written")])


def _end_of_section(tree: CommentedMap, key: str, lines: list[str]) -> int:
    """Index of the first line after the section `key`: the next top-level key, or the end of the file."""
    keys = list(tree.keys())
    position = keys.index(key)
    if position + 1 < len(keys):
        end = tree.lc.key(keys[position + 1])[0]
        while end > 0 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1  # leave comments and blank lines that introduce the next section with it
        return end
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    return end


def _render(entry: dict[str, Any], item_column: int, newline: str = "\n") -> str:
    yaml = round_trip_yaml()
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = StringIO()
    yaml.dump([entry], buffer)
    dash_column = max(item_column - 2, 0)
    dumped_offset = 2  # the top-level "- " is dumped at the sequence offset set above
    rendered = "".join(" " * dash_column + line[dumped_offset:] if line.strip() else line
                       for line in _lines(buffer.getvalue()))
    return rendered.replace("\n", newline)


def _write_atomically(target: Path, text: str) -> None:
    """Replace `target` (a real file, symlinks resolved by the caller) in one step, with its mode."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tenants-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:  # newline="": write CRLF as given
            handle.write(text)
        os.chmod(tmp, target.stat().st_mode & 0o777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
