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
    kc = hostvars['counselkit_components']['keycloak']  # the component spec the role looped over
    for user in kc['users']:
        assert host.user(user['name']).exists
    release = kc['layout']['release']['context']
    for spec in kc['files']:
        if spec['context'] == release:
            continue  # the login themes go into the release (archive steps: pyinfra only)
        f = host.file(spec['dest'])
        assert f.exists and f.user == spec['owner'] and f.group == spec['group'], spec['dest']
        assert f.mode == int(spec['mode'], 8), spec['dest']
    dbs = host.check_output("cd / && runuser -u postgres -- psql -XAtc 'SELECT datname FROM pg_database'")
    assert kc['layout']['database']['db'] in dbs.splitlines()
