"""Fixtures for unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import EXAMPLE


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    target = tmp_path / "tenants.yaml"
    target.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return target
