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


def add_tenant(path: Path, entry: dict[str, Any]) -> None:
    doc = read_yaml(path)
    original = path.read_text(encoding="utf-8")
    updated = _append_entry(original, doc.tree, entry, path)
    new_doc = parse_yaml(updated, path)
    _, problems = validate_document(new_doc)
    if problems:
        raise InputError(problems)
    _write_atomically(path, updated)


def _append_entry(text: str, tree: Any, entry: dict[str, Any], path: Path) -> str:
    if not isinstance(tree, CommentedMap) or "platform" not in tree:
        raise InputError([Problem(str(path), 0, 0, "", "not a tenants.yaml (no 'platform:' mapping); nothing was written")])
    tenants = tree.get("tenants")
    lines = text.splitlines(keepends=True)
    if isinstance(tenants, CommentedSeq) and len(tenants) > 0 and not tenants.fa.flow_style():
        item_column = tenants.lc.item(0)[1]  # column of the entry's first key, after "- "
        insert_at = _end_of_section(tree, "tenants", lines)
        block = _render(entry, item_column)
        before = lines[:insert_at]
        if before and not before[-1].endswith("\n"):
            before[-1] += "\n"
        return "".join(before + ["\n", block] + lines[insert_at:])
    if tenants is None or (isinstance(tenants, CommentedSeq) and len(tenants) == 0):
        line = tree.lc.key("tenants")[0] if "tenants" in tree else None
        block = _render(entry, 4)
        if line is None:
            return text + ("" if text.endswith("\n") else "\n") + "\ntenants:\n" + block
        lines[line] = "tenants:\n"
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


def _render(entry: dict[str, Any], item_column: int) -> str:
    yaml = round_trip_yaml()
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = StringIO()
    yaml.dump([entry], buffer)
    dash_column = max(item_column - 2, 0)
    dumped_offset = 2  # the top-level "- " is dumped at the sequence offset set above
    return "".join(" " * dash_column + line[dumped_offset:] if line.strip() else line
                   for line in buffer.getvalue().splitlines(keepends=True))


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tenants-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)
