"""Input problems that name file, line, column and field — the only way bad input is reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .model.types import escape_forbidden


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, precise enough for a federation's office to fix it."""

    file: str
    line: int  # 1-based; 0 when the problem concerns the whole file
    column: int  # 1-based; 0 when unknown
    field: str  # dotted path such as "tenants[2].billing.email"
    message: str  # what is wrong and what is allowed

    def __str__(self) -> str:
        # Field names and messages quote the input (keys, values): hostile text must not forge output lines.
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return escape_forbidden(f"{where}: {self.field or '(file)'}: {self.message}")


@dataclass
class InputError(Exception):
    """Raised with every problem found in an input file at once."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.summary())

    def summary(self) -> str:
        count = len(self.problems)
        lines = [str(p) for p in sorted(self.problems)]
        noun = "problem" if count == 1 else "problems"
        return "\n".join(lines + [f"{count} {noun} found."])


def whole_file_problem(path: Path | str, message: str) -> InputError:
    return InputError([Problem(str(path), 0, 0, "", message)])
