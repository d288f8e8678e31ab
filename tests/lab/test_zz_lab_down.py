"""`lab down` leaves no namespace, veth, address, mount or process behind.

Named test_zz_* so it runs after every other lab test: they share one lab.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from counselkit.lab import image, lab_down, load_state, settings
from counselkit.lab.network import netns_dir_is_mounted
from counselkit.lab.processes import is_running

pytestmark = pytest.mark.lab


def test_lab_down_leaves_nothing_behind(lab, request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--reuse-lab"):
        pytest.skip("--reuse-lab keeps the lab up")
    state = load_state()
    assert state is not None and state.phase == "up"
    roles = {p.role for p in state.processes}
    assert {"proxy", "s3", "host:node1", "host:node2", "init:node1", "init:node2"} <= roles
    assert all(is_running(p) for p in state.processes)

    lab_down()

    assert load_state() is None
    assert not settings.STATE_FILE.exists()
    leftover_netns = [p.name for p in settings.NETNS_DIR.glob(f"{settings.NETNS_PREFIX}*")]
    assert leftover_netns == []
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    assert all(f" {h.veth}" not in links and f" {h.veth}@" not in links for h in state.hosts), links
    lo = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True).stdout
    assert settings.SERVICE_ADDRESS not in lo
    mounts = Path("/proc/self/mounts").read_text()
    assert str(settings.STATE_DIR) not in mounts
    assert f"{settings.NETNS_DIR}/{settings.NETNS_PREFIX}" not in mounts
    if state.created_netns_mount:
        assert not netns_dir_is_mounted()
    still_running = [f"{p.role} pid {p.pid}" for p in state.processes if is_running(p)]
    assert still_running == []
    assert not settings.HOSTS_DIR.exists()
    assert image.is_cached(), "lab down must keep the image cache"
