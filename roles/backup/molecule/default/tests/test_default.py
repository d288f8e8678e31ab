"""Verifier of role backup: the same checks as tests/lab (tests/checks/state.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[5]))

from counselkit import layout  # noqa: E402
from tests.checks import state  # noqa: E402
from tests.checks.target import target  # noqa: E402


def test_backup():
    host, hostvars = target()
    host_vars = hostvars["counselkit"]
    data = host_vars['backup']
    assert host.package('restic').is_installed
    for job in data['jobs']:
        for key in ('env_file', 'password_file', 'job_file'):
            f = host.file(job['names'][key])
            assert f.exists and f.mode == 0o600 and f.user == 'root', job['names'][key]
        assert host.service(job['names']['timer']).is_enabled
