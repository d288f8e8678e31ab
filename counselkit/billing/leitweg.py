"""Leitweg-ID (KoSIT "Format-Spezifikation Leitweg-ID"): the routing ID of German public-sector invoice recipients.

Structure: `<Grobadressierung>[-<Feinadressierung>]-<Prüfziffer>`: 2-12 digits, optionally 1-30 letters or
digits, then two check digits; at most 46 characters. The check digits are ISO 7064 MOD 97-10 over the ID
without hyphens, letters counted as 10 (A) to 35 (Z) as in an IBAN: the whole, check digits included, is
1 modulo 97.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_FORMAT = re.compile(r"^(?P<coarse>[0-9]{2,12})(?:-(?P<fine>[0-9A-Za-z]{1,30}))?-(?P<check>[0-9]{2})$")
MAX_LENGTH = 46


def _digits(text: str) -> str:
    return "".join(str(int(char, 36)) for char in text.upper())


def check_digits(coarse: str, fine: str = "") -> str:
    """The two check digits for a Leitweg-ID's coarse and fine addressing."""
    return f"{98 - int(_digits(coarse + fine) + '00') % 97:02d}"


def leitweg_problem(value: str) -> str | None:
    """None when `value` is a valid Leitweg-ID, else why not."""
    match = _FORMAT.match(value)
    if not match or len(value) > MAX_LENGTH:
        return (f"'{value}' is not a Leitweg-ID: 2-12 digits, optionally '-' and up to 30 letters or digits, then "
                "'-' and two check digits, e.g. 991-01234-44")
    coarse, fine = match.group("coarse"), match.group("fine") or ""
    if int(_digits(coarse + fine) + match.group("check")) % 97 != 1:
        return (f"Leitweg-ID '{value}' has a wrong check digit (ISO 7064 MOD 97-10); "
                f"for {coarse}{'-' + fine if fine else ''} it is {check_digits(coarse, fine)}")
    return None


def _leitweg_id(value: str) -> str:
    problem = leitweg_problem(value)
    if problem:
        raise ValueError(problem)
    return value


LeitwegId = Annotated[str, AfterValidator(_leitweg_id)]  # the model's field type
