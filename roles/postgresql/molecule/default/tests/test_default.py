"""Verifier of role postgresql: the same checks as tests/lab (tests/checks/state.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[5]))

from counselkit import layout  # noqa: E402
from tests.checks import state  # noqa: E402
from tests.checks.target import target  # noqa: E402


def test_postgresql():
    host, hostvars = target()
    host_vars = hostvars["counselkit"]
    state.assert_postgres_local_scram(host, host_vars)
    state.assert_nothing_public_but(host, {'tcp/22', 'tcp/80', 'tcp/443'})
