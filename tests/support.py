"""Helpers shared by the test suites: the example tenants.yaml and ways to vary it."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tenants.yaml"


def example_data() -> dict[str, Any]:
    return YAML(typ="safe").load(EXAMPLE.read_text(encoding="utf-8"))


def write_yaml(path: Path, data: Any) -> Path:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    return path


def tenant_entry(slug: str, **changes: Any) -> dict[str, Any]:
    entry = copy.deepcopy(example_data()["tenants"][0])
    entry["slug"] = slug
    entry.update(changes)
    return entry


# A Keycloak release pinned only to configure Keycloak (platform.artifacts.keycloak): its archive is never fetched,
# since nothing given this pin goes past the archive (unit tests, and the lab's deploys up to the archive).
KEYCLOAK_PIN = {"version": "26.0.7", "url": "https://example.org/keycloak-26.0.7.tar.gz", "sha256": "0" * 64}


# Which lab host each suite may change. One lab serves every suite in a test session, so each suite keeps to its
# own hosts; a suite that needs a bare Debian image gets one nobody deploys to.
LAB_HOSTS = {
    "example": "node1",          # the example tenants.yaml (audit: deployed host, backup drill, demo)
    "bare": "node2",             # never deployed: the audit shows its controls fail here
    "parity_pyinfra": "node3",   # parity: pyinfra side
    "molecule": "node4",         # the molecule scenarios (roles/*/molecule/default), two at a time on these two
    "deploy_a": "node5",         # the deploy suite's two hosts
    "deploy_b": "node6",
    "keycloak": "node7",         # Keycloak up to the release archive: its suite and the pyinfra side of its parity
    "parity_ansible": "node8",   # parity: Ansible side, on a host no molecule scenario touched
    "molecule_b": "node9",       # the second molecule host (tests/lab/test_molecule.py)
    "keycloak_ansible": "node10",  # Keycloak parity: Ansible side (node7 is its pyinfra side)
    "keycloak_full": "node11",   # the full Keycloak flow, only with the release archive (COUNSELKIT_ARTIFACTS)
}
LAB_HOST_COUNT = len(LAB_HOSTS)


def example_on(host: str) -> dict[str, Any]:
    """The example tenants, all placed on one host of that name."""
    data = example_data()
    data["platform"]["hosts"] = [{"name": host, "address": "203.0.113.10"}]
    for entry in data["tenants"]:
        entry["host"] = host
    return data


@contextmanager
def environment_kept(*names: str) -> Iterator[None]:
    """Whatever the block does to these environment variables is undone afterwards (set, changed or removed), so a
    fixture that points the in-process inventory at its own vault leaves the rest of the session as it was."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def png_bytes(width: int = 2, height: int = 1) -> bytes:
    """A real (tiny, grey) PNG of the given size, for logo tests: signature, IHDR, IDAT, IEND with CRCs."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(min(height, 4)))  # enough rows for a header check
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
