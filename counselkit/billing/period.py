"""The billing period (a calendar month) and proration by calendar days."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Period":
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            raise ValueError(f"'{text}' is not a billing period; use YYYY-MM such as 2026-11")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.month, self.days)

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    def label(self) -> str:
        return f"{self.month:02d}/{self.year:04d}"


@dataclass(frozen=True)
class Service:
    """The part of a period in which a contract was active (both ends inclusive)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def active_service(period: Period, start: date, end: date | None) -> Service | None:
    """The days of `period` covered by a contract from `start` to `end` (inclusive; None = open-ended)."""
    first = max(period.first, start)
    last = min(period.last, end) if end is not None else period.last
    if last < first:
        return None
    return Service(first, last)


def next_day(day: date) -> date:
    return day + timedelta(days=1)
