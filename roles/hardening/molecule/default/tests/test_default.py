"""Verifier of role hardening: the same checks as tests/lab (tests/checks/state.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[5]))

from counselkit import layout  # noqa: E402
from tests.checks import state  # noqa: E402
from tests.checks.target import target  # noqa: E402


def test_hardening():
    host, hostvars = target()
    host_vars = hostvars["counselkit"]
    state.assert_admins(host, host_vars)  # admin group = planned admins, root's keys = planned keys
    assert not host.user("former-admin").exists and not host.file("/home/former-admin").exists  # prepare.yml
    state.assert_sshd_hardened(host)
    assert host.service('nftables').is_enabled
    assert host.file(layout.AUDIT_RULES).contains('-k identity')
    assert host.file(layout.JOURNAL_DIR).mode == 0o2755
