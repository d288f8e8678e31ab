"""Read YAML keeping where every value stands, so problems can name line and column."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent, CollectionEndEvent, CollectionStartEvent, DocumentStartEvent, ScalarEvent,
)

from .problems import InputError, Problem, whole_file_problem

Loc = tuple[str | int, ...]

# Limits far above any real tenants.yaml (1,000 tenants: about 1 MB, 100,000 nodes, nesting depth 8) and far
# below what hurts: the C composer recurses per nesting level (100,000 '[' crash it), and aliases multiply
# (a 600-byte "billion laughs" file expands to gigabytes when turned into plain data).
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 1_000_000  # after expanding every alias


@dataclass
class YamlDocument:
    """A parsed YAML file: plain data for validation; the round-trip tree (for positions) is parsed on demand.

    The fast safe loader reads every file; the slower round-trip parse only runs when a problem needs a
    line number or `tenant add` needs the layout — so a valid 1,000-tenant file loads in well under a second.
    """

    path: Path
    text: str
    data: Any  # plain dicts, lists, str, int, Decimal, bool, date

    @functools.cached_property
    def tree(self) -> Any:
        """ruamel round-trip nodes (CommentedMap/CommentedSeq/scalars) of the same text; None if it won't parse.

        The two parsers disagree on a few odd inputs (fuzzing found some); positions are then unknown (0).
        """
        try:
            return round_trip_yaml().load(self.text)
        except (YAMLError, RecursionError, ValueError, TypeError, AttributeError):
            return None

    def position(self, loc: Loc) -> tuple[int, int]:
        """1-based (line, column) of the deepest node of `loc` that exists in the file."""
        node = self.tree
        best = (1, 1) if node is not None else (0, 0)
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                line, col = node.lc.key(part)
                best, node = (line + 1, col + 1), node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, col = node.lc.item(part)
                best, node = (line + 1, col + 1), node[part]
            else:
                break
        return best

    def problem(self, loc: Loc, message: str) -> Problem:
        line, col = self.position(loc)
        return Problem(str(self.path), line, col, format_loc(loc), message)


def format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _timestamp_or_text(constructor: Any, node: Any) -> Any:
    """A date-shaped value that is no real date (2026-12-32) stays text, so the model reports it with its line."""
    try:
        return type(constructor).construct_yaml_timestamp(constructor, node)
    except ValueError:
        return constructor.construct_scalar(node)


def _with_lenient_timestamps(yaml: YAML) -> YAML:
    yaml.constructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)
    return yaml


def round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return _with_lenient_timestamps(yaml)


def plain(node: Any) -> Any:
    """Round-trip nodes to plain Python; floats become Decimal so money never passes through float."""
    if isinstance(node, dict):
        return {plain_key(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, float):
        # repr() gives the shortest text that reads back as the same float: "49.9" stays 49.9.
        return Decimal(repr(node)) if node == node and node not in (float("inf"), float("-inf")) else node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, str):
        return str(node)
    return node


def plain_key(key: Any) -> Any:
    return key if isinstance(key, (str, int)) and not isinstance(key, bool) else str(key)


def read_yaml(path: Path) -> YamlDocument:
    """Parse `path`; any failure becomes an InputError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise whole_file_problem(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise whole_file_problem(path, f"cannot read file: {exc}") from None
    return parse_yaml(text, path)


def safe_yaml() -> YAML:
    # YAML 1.2 resolution (no "yes"/"no" booleans) with libyaml's parser when ruamel.yaml.clib is present.
    return _with_lenient_timestamps(YAML(typ="safe"))


def check_shape(text: str, path: Path) -> None:
    """Refuse a document that is too big, too deep or expands too far — before anything builds it.

    Walks the parser's event stream (libyaml's parser is iterative, so depth cannot crash it) and counts the
    nodes the document would have with every alias expanded; an anchor's size is known when its node ends.
    """
    size = len(text.encode("utf-8"))
    if size > MAX_FILE_BYTES:
        raise whole_file_problem(path, f"file is {size} bytes; at most {MAX_FILE_BYTES} are read")
    anchors: dict[str, int] = {}
    stack: list[list[Any]] = []  # [anchor, nodes so far] per open collection
    total = 0
    for event in safe_yaml().parse(text):
        if isinstance(event, DocumentStartEvent):
            anchors.clear()
        if isinstance(event, CollectionStartEvent):
            stack.append([event.anchor, 1])
            if len(stack) > MAX_DEPTH:
                raise _shape_problem(path, event, f"nested more than {MAX_DEPTH} levels deep")
            continue
        if isinstance(event, CollectionEndEvent):
            anchor, nodes = stack.pop()
        elif isinstance(event, AliasEvent):
            anchor, nodes = None, anchors.get(event.anchor, 1)
        elif isinstance(event, ScalarEvent):
            anchor, nodes = event.anchor, 1
        else:
            continue
        if anchor:
            anchors[anchor] = nodes
        if stack:
            stack[-1][1] += nodes
        total += nodes if not stack else 0
        if total > MAX_NODES or (stack and stack[-1][1] > MAX_NODES):
            raise _shape_problem(path, event, f"expands to more than {MAX_NODES} values through aliases (*name); "
                                              "write the values out or use fewer aliases")


def _shape_problem(path: Path, event: Any, message: str) -> InputError:
    mark = event.start_mark
    return InputError([Problem(str(path), mark.line + 1, mark.column + 1, "", f"invalid YAML: {message}")])


def parse_yaml(text: str, path: Path) -> YamlDocument:
    try:
        check_shape(text, path)
        loaded = safe_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise InputError([Problem(str(path), line, col, "", f"invalid YAML: {message}")]) from None
    except (YAMLError, RecursionError, ValueError, TypeError, AttributeError) as exc:
        raise whole_file_problem(path, f"invalid YAML: {exc}") from None
    try:
        data = plain(loaded)
    except RecursionError:
        raise whole_file_problem(path, "invalid YAML: nested too deeply") from None
    return YamlDocument(path=path, text=text, data=data)
