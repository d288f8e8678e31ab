"""The placement lock: once a tenant has a host and a port, it keeps them, whatever happens to the file order.

It lives next to tenants.yaml as tenants.lock.json and is committed with it, like a package lock file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .problems import whole_file_problem

LOCK_VERSION = 1


@dataclass(frozen=True)
class Assignment:
    host: str
    port: int


@dataclass
class Lock:
    assignments: dict[str, Assignment] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {
            "version": LOCK_VERSION,
            "comment": "Written by counselkit. Pins each tenant's host and port; commit it with tenants.yaml.",
            "tenants": {slug: {"host": a.host, "port": a.port} for slug, a in sorted(self.assignments.items())},
        }
        return json.dumps(body, indent=2) + "\n"


def lock_path(tenants_file: Path) -> Path:
    return tenants_file.with_name(tenants_file.stem + ".lock.json")


def read_lock(path: Path) -> Lock:
    if not path.exists():
        return Lock()
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("version") != LOCK_VERSION:
            raise ValueError(f"unsupported version {body.get('version')!r}")
        return Lock({slug: Assignment(str(v["host"]), int(v["port"])) for slug, v in body["tenants"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise whole_file_problem(path, f"placement lock is unreadable ({exc}); restore it from version control") from None


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
