"""The placement lock: once a tenant has a host and a port, it keeps them, whatever happens to the file order.

It lives next to tenants.yaml as tenants.lock.json and is committed with it, like a package lock file. It is
input like tenants.yaml — a wrong port routes one centre's users to another centre's Synapse — so it is read
as strictly: exact types (`true` is no port, 8101.9 neither), ranges, reserved ports, duplicates, unknown keys,
each problem with file, line and field.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import layout
from .model.types import check_host_name, check_slug
from .problems import InputError, Problem, whole_file_problem
from .yamlsource import Loc, format_loc

LOCK_VERSION = 1
LOCK_KEYS = ("version", "comment", "tenants")
ASSIGNMENT_KEYS = ("host", "port")
MAX_DEPTH = 16  # the lock is three levels deep; anything deeper is not a lock
# Ports the platform itself uses on every host (layout.py): a tenant's Synapse must never take one.
RESERVED_PORTS: dict[int, str] = {
    **{port: "public (sshd/nginx)" for port in layout.PUBLIC_TCP_PORTS},
    layout.KEYCLOAK_HTTP_PORT: "Keycloak HTTP",
    layout.KEYCLOAK_MANAGEMENT_PORT: "Keycloak management",
    layout.POSTGRES_PORT: "PostgreSQL",
}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Assignment:
    host: str
    port: int


@dataclass
class Lock:
    assignments: dict[str, Assignment] = field(default_factory=dict)
    source: str = "tenants.lock.json"
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)  # (line, column) of each key as read

    def to_json(self) -> str:
        body = {
            "version": LOCK_VERSION,
            "comment": "Written by counselkit. Pins each tenant's host and port; commit it with tenants.yaml.",
            "tenants": {slug: {"host": a.host, "port": a.port} for slug, a in sorted(self.assignments.items())},
        }
        return json.dumps(body, indent=2) + "\n"

    def problem(self, loc: Loc, message: str) -> Problem:
        line, column = self.positions.get(loc, (0, 0))
        return Problem(self.source, line, column, format_loc(loc), message)


def lock_path(tenants_file: Path) -> Path:
    return tenants_file.with_name(tenants_file.stem + ".lock.json")


class _JsonError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class _PositionedJson:
    """A small strict JSON reader (RFC 8259, no NaN/Infinity) that notes where every key stands.

    The standard json module gives no positions and silently keeps the last of duplicate keys.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.positions: dict[Loc, tuple[int, int]] = {}
        self.duplicates: list[tuple[Loc, tuple[int, int]]] = []  # the second (third...) occurrence

    def parse(self) -> Any:
        self.positions[()] = (1, 1)
        value = self._value((), 0)
        self._skip()
        if self.offset != len(self.text):
            raise _JsonError("extra data after the JSON document", self.offset)
        return value

    def where(self, offset: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, offset) + 1
        return line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1

    def _skip(self) -> None:
        while self.offset < len(self.text) and self.text[self.offset] in " \t\r\n":
            self.offset += 1

    def _value(self, loc: Loc, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _JsonError(f"nested more than {MAX_DEPTH} levels deep", self.offset)
        self._skip()
        char = self.text[self.offset:self.offset + 1]
        if char == "{":
            return self._object(loc, depth)
        if char == "[":
            return self._array(loc, depth)
        if char == '"':
            return self._string()
        for literal, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(literal, self.offset):
                self.offset += len(literal)
                return value
        match = _NUMBER.match(self.text, self.offset)
        if match:
            self.offset = match.end()
            return float(match[0]) if match[1] or match[2] else int(match[0])
        raise _JsonError("expected a JSON value" if char else "unexpected end of file", self.offset)

    def _string(self) -> str:
        try:
            value, self.offset = json.decoder.scanstring(self.text, self.offset + 1, True)
        except json.JSONDecodeError as exc:
            raise _JsonError(exc.msg, exc.pos) from None
        return value

    def _object(self, loc: Loc, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        self.offset += 1
        self._skip()
        if self.text.startswith("}", self.offset):
            self.offset += 1
            return result
        while True:
            self._skip()
            if not self.text.startswith('"', self.offset):
                raise _JsonError("expected a key in double quotes", self.offset)
            start = self.offset
            key = self._string()
            key_loc = (*loc, key)
            if key in result:
                self.duplicates.append((key_loc, self.where(start)))
            self.positions.setdefault(key_loc, self.where(start))
            self._skip()
            if not self.text.startswith(":", self.offset):
                raise _JsonError("expected ':' after the key", self.offset)
            self.offset += 1
            result[key] = self._value(key_loc, depth + 1)
            if not self._next_or_end("}"):
                return result

    def _array(self, loc: Loc, depth: int) -> list[Any]:
        result: list[Any] = []
        self.offset += 1
        self._skip()
        if self.text.startswith("]", self.offset):
            self.offset += 1
            return result
        while True:
            self._skip()
            self.positions[(*loc, len(result))] = self.where(self.offset)
            result.append(self._value((*loc, len(result)), depth + 1))
            if not self._next_or_end("]"):
                return result

    def _next_or_end(self, closing: str) -> bool:
        """True after a ',' (another item follows), False after the closing bracket."""
        self._skip()
        char = self.text[self.offset:self.offset + 1]
        self.offset += 1
        if char == ",":
            return True
        if char == closing:
            return False
        raise _JsonError(f"expected ',' or '{closing}'", self.offset - 1)


def read_lock(path: Path) -> Lock:
    """Read and check the lock; raise InputError listing every problem, never anything else."""
    if not path.exists():
        return Lock(source=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise whole_file_problem(path, f"placement lock is unreadable ({exc}); restore it from version control") from None
    return parse_lock(text, str(path))


def parse_lock(text: str, source: str) -> Lock:
    reader = _PositionedJson(text)
    try:
        body = reader.parse()
    except _JsonError as exc:
        line, column = reader.where(exc.offset)
        raise InputError([Problem(source, line, column, "", f"invalid JSON: {exc}; restore the lock from version control")]) from None
    lock = Lock(source=source, positions=reader.positions)
    problems = [Problem(source, line, column, format_loc(loc), f"duplicate key '{loc[-1]}': JSON keys must be unique, "
                        "the second would silently win") for loc, (line, column) in reader.duplicates]
    lock.assignments = _assignments(body, lock, problems)
    if problems:
        raise InputError(problems)
    return lock


def _assignments(body: Any, lock: Lock, problems: list[Problem]) -> dict[str, Assignment]:
    if not isinstance(body, dict):
        problems.append(lock.problem((), "the lock must be a JSON object with 'version' and 'tenants'"))
        return {}
    problems += [lock.problem((key,), f"unknown key '{key}'; allowed: {', '.join(LOCK_KEYS)}") for key in body if key not in LOCK_KEYS]
    version = body.get("version")
    if type(version) is not int or version != LOCK_VERSION:
        problems.append(lock.problem(("version",) if "version" in body else (),
                                     f"unsupported lock version {version!r}; this counselkit reads version {LOCK_VERSION}"))
    if "comment" in body and not isinstance(body["comment"], str):
        problems.append(lock.problem(("comment",), "must be a string"))
    tenants = body.get("tenants")
    if not isinstance(tenants, dict):
        problems.append(lock.problem(("tenants",) if "tenants" in body else (), "must be an object of slug: {host, port}"))
        return {}
    assignments: dict[str, Assignment] = {}
    taken: dict[tuple[str, int], str] = {}
    for slug, entry in tenants.items():
        assignment = _assignment(slug, entry, lock, problems)
        if assignment is None:
            continue
        other = taken.setdefault((assignment.host, assignment.port), slug)
        if other != slug:
            problems.append(lock.problem(("tenants", slug, "port"), (
                f"port {assignment.port} on host '{assignment.host}' is already pinned to tenant '{other}'; "
                "two tenants on one port would serve one centre's users from another centre's Synapse")))
            continue
        assignments[slug] = assignment
    return assignments


def _assignment(slug: str, entry: Any, lock: Lock, problems: list[Problem]) -> Assignment | None:
    loc: Loc = ("tenants", slug)
    before = len(problems)
    try:
        check_slug(slug)
    except ValueError as exc:
        problems.append(lock.problem(loc, str(exc)))
    if not isinstance(entry, dict):
        problems.append(lock.problem(loc, "must be an object {\"host\": ..., \"port\": ...}"))
        return None
    problems += [lock.problem((*loc, key), f"unknown key '{key}'; allowed: host, port") for key in entry if key not in ASSIGNMENT_KEYS]
    problems += [lock.problem(loc, f"'{key}' is missing") for key in ASSIGNMENT_KEYS if key not in entry]
    host, port = entry.get("host"), entry.get("port")
    if "host" in entry:
        message = _host_problem(host)
        if message:
            problems.append(lock.problem((*loc, "host"), message))
    if "port" in entry:
        message = _port_problem(port)
        if message:
            problems.append(lock.problem((*loc, "port"), message))
    return Assignment(host, port) if len(problems) == before else None


def _host_problem(host: Any) -> str | None:
    if not isinstance(host, str):
        return f"must be a host name in double quotes (got {json.dumps(host)})"
    try:
        check_host_name(host)
    except ValueError as exc:
        return str(exc)
    return None


def _port_problem(port: Any) -> str | None:
    if type(port) is not int:  # bool is a subclass of int: `true` must not become port 1
        return f"must be a whole number (got {json.dumps(port)})"
    if port in RESERVED_PORTS:
        return f"port {port} is reserved for {RESERVED_PORTS[port]}"
    if not layout.SYNAPSE_PORT_BASE <= port <= layout.SYNAPSE_PORT_MAX:
        return f"port {port} is outside the tenant range {layout.SYNAPSE_PORT_BASE}-{layout.SYNAPSE_PORT_MAX}"
    return None


def write_lock(path: Path, lock: Lock) -> bool:
    """Write atomically; return True when the content changed."""
    text = lock.to_json()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lock-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True
