"""What `lab down` must leave behind: nothing but the image cache. Checked by the `lab` fixture's teardown
(tests/lab/conftest.py), after the last lab test whatever the order, instead of by a test named to sort last."""

from __future__ import annotations

import subprocess
from pathlib import Path

from counselkit.lab import LabState, image, load_state, settings
from counselkit.lab.network import netns_dir_is_mounted
from counselkit.lab.processes import is_running

# Processes every lab up records (the first two hosts are in every lab).
EXPECTED_ROLES = {"proxy", "s3", "host:node1", "host:node2", "init:node1", "init:node2"}


def problems_before_down(state: LabState) -> list[str]:
    """The lab as `lab up` left it: phase up, the expected processes recorded and running."""
    problems = [] if state.phase == "up" else [f"lab phase is {state.phase!r}, not 'up'"]
    missing = EXPECTED_ROLES - {p.role for p in state.processes}
    problems += [f"no recorded process {role}" for role in sorted(missing)]
    problems += [f"{p.role} pid {p.pid} is not running" for p in state.processes if not is_running(p)]
    return problems


def leftovers_after_down(state: LabState) -> list[str]:
    """Everything of `state` (the lab before `lab_down()`) that is still there afterwards."""
    left = []
    if load_state() is not None or settings.STATE_FILE.exists():
        left.append(f"state file {settings.STATE_FILE}")
    left += [f"netns {p.name}" for p in settings.NETNS_DIR.glob(f"{settings.NETNS_PREFIX}*")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    left += [f"veth {h.veth}" for h in state.hosts if f" {h.veth}" in links or f" {h.veth}@" in links]
    lo = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True).stdout
    if settings.SERVICE_ADDRESS in lo:
        left.append(f"service address {settings.SERVICE_ADDRESS} on lo")
    mounts = Path("/proc/self/mounts").read_text()
    if str(settings.STATE_DIR) in mounts:
        left.append(f"a mount under {settings.STATE_DIR}")
    if f"{settings.NETNS_DIR}/{settings.NETNS_PREFIX}" in mounts:
        left.append(f"a netns mount {settings.NETNS_DIR}/{settings.NETNS_PREFIX}*")
    if state.created_netns_mount and netns_dir_is_mounted():
        left.append(f"the {settings.NETNS_DIR} mount the lab made")
    left += [f"process {p.role} pid {p.pid}" for p in state.processes if is_running(p)]
    if settings.HOSTS_DIR.exists():
        left.append(f"hosts directory {settings.HOSTS_DIR}")
    if not image.is_cached():
        left.append("the image cache is gone (lab down must keep it)")
    return left
