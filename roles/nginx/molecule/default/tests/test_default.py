"""Verifier of role nginx: the same checks as tests/lab (tests/checks/state.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[5]))

from counselkit import layout  # noqa: E402
from tests.checks import state  # noqa: E402
from tests.checks.target import target  # noqa: E402


def test_nginx():
    host, hostvars = target()
    host_vars = hostvars["counselkit"]
    state.assert_nginx_tenants(host, host_vars)
