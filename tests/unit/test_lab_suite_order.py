"""The lab suites that reuse the `example_site` deploy (tests/lab/conftest.py) run after the parity suite, which
deploys the same lab host again with secrets of its own: a site deployed before it no longer matches its secrets."""

from __future__ import annotations

import re
from pathlib import Path

LAB = Path(__file__).resolve().parents[1] / "lab"
USES_SITE = re.compile(r"\bexample_site\b")


def test_example_site_users_sort_after_the_parity_suite() -> None:
    users = sorted(path.name for path in LAB.glob("test_*.py") if USES_SITE.search(path.read_text(encoding="utf-8")))
    assert len(users) >= 5, users  # privacy, revocation and the three counselling suites at least
    early = [name for name in users if name < "test_parity.py"]
    assert not early, f"{early} would deploy the example site before tests/lab/test_parity.py redeploys its host"
