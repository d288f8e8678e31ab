"""The controls catalogue (catalogue.yaml): control → requirement, BSI references, checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ruamel.yaml import YAML

from .checks import CHECKS

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
BSI_ID = re.compile(r"^(ISMS|ORP|CON|OPS|DER|APP|SYS|IND|NET|INF)(\.\d+)+\.A\d+$")
VERIFIED_VALUES = {"2023", "2022+", "unverified"}


@dataclass(frozen=True)
class BsiRef:
    id: str
    title: str
    verified: str


@dataclass(frozen=True)
class Control:
    id: str
    area: str
    requirement: str
    bsi: tuple[BsiRef, ...]
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    edition: str
    controls: tuple[Control, ...]

    def control(self, control_id: str) -> Control:
        return next(c for c in self.controls if c.id == control_id)


class CatalogueError(Exception):
    pass


def problems(catalogue: Catalogue) -> list[str]:
    """Everything wrong with the catalogue: empty when it is sound."""
    found = []
    ids = [c.id for c in catalogue.controls]
    found += [f"duplicate control id {i}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    referenced: set[str] = set()
    for control in catalogue.controls:
        if not re.fullmatch(r"CK-[A-Z]{2,4}-\d{2}", control.id):
            found.append(f"{control.id}: id must look like CK-ABC-01")
        if not control.requirement.strip() or control.requirement.count(". ") > 0:
            found.append(f"{control.id}: requirement must be one sentence")
        if not control.bsi:
            found.append(f"{control.id}: no BSI reference")
        for ref in control.bsi:
            if not BSI_ID.match(ref.id):
                found.append(f"{control.id}: {ref.id} is not a BSI requirement id")
            if ref.verified not in VERIFIED_VALUES:
                found.append(f"{control.id}: {ref.id} verified must be one of {sorted(VERIFIED_VALUES)}")
        if not control.checks:
            found.append(f"{control.id}: no check")
        for name in control.checks:
            if name not in CHECKS:
                found.append(f"{control.id}: unknown check {name}")
            referenced.add(name)
    found += [f"check {name} is not referenced by any control" for name in sorted(set(CHECKS) - referenced)]
    return found


def parse(text: str) -> Catalogue:
    data = YAML(typ="safe").load(text)
    controls = tuple(
        Control(id=c["id"], area=c["area"], requirement=" ".join(c["requirement"].split()),
                bsi=tuple(BsiRef(b["id"], b["title"], str(b.get("verified", "unverified"))) for b in c.get("bsi") or []),
                checks=tuple(c.get("checks") or []))
        for c in data["controls"]
    )
    return Catalogue(edition=data.get("edition", ""), controls=controls)


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    catalogue = parse(CATALOGUE_FILE.read_text(encoding="utf-8"))
    wrong = problems(catalogue)
    if wrong:
        raise CatalogueError("; ".join(wrong))
    return catalogue
