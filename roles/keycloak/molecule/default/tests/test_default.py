"""Verifier of role keycloak: the same checks as tests/lab (tests/checks/state.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[5]))

from counselkit import layout  # noqa: E402
from tests.checks import state  # noqa: E402
from tests.checks.target import target  # noqa: E402


def test_keycloak():
    host, hostvars = target()
    host_vars = hostvars["counselkit"]
    kc = hostvars['counselkit_keycloak']
    assert host.user(kc['user']).exists
    for path in (kc['conf_path'], kc['env_path']):
        f = host.file(path)
        assert f.exists and f.mode == 0o640 and f.group == kc['group'], path
    assert host.file(kc['unit_path']).mode == 0o644
    dbs = host.check_output("cd / && runuser -u postgres -- psql -XAtc 'SELECT datname FROM pg_database'")
    assert kc['db'] in dbs.splitlines()
