"""The whole tenants.yaml: platform plus tenants."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PrivateAttr

from .platform import Platform
from .tenant import Tenant
from .types import Strict


class Inventory(Strict):
    platform: Platform
    tenants: Annotated[list[Tenant], Field(default_factory=list)]
    _source: Path | None = PrivateAttr(default=None)
    _warnings: list[Any] = PrivateAttr(default_factory=list)  # problems.Problem: allowed, but worth a second look

    @property
    def source(self) -> Path | None:
        """The tenants.yaml this was read from; relative paths in it (logo, secrets_file) resolve against it."""
        return self._source

    @property
    def warnings(self) -> list[Any]:
        """What `validate` reports without failing (e.g. an admin network open to the whole internet)."""
        return self._warnings

    def tenant(self, slug: str) -> Tenant:
        return next(t for t in self.tenants if t.slug == slug)

    def relative_path(self, value: str) -> Path:
        base = self._source.parent if self._source else Path.cwd()
        return (base / value).resolve()
