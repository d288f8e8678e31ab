"""One lab host: its own root file system, its boot under systemd-nspawn, readiness."""

from __future__ import annotations

import os

import shutil
import subprocess
import time
import uuid
from pathlib import Path

from counselkit.lab import settings, ssh
from counselkit.lab.errors import LabError
from counselkit.lab.processes import (
    LabProcess,
    children_of,
    identify,
    is_running,
    log_tail,
    spawn,
)
from counselkit.lab.state import LabHost

READY_STATES = ("running", "degraded")


def copy_root(image_root: Path, host_root: Path) -> None:
    """A fresh private copy of the image (reflinks where the file system has them)."""
    if host_root.exists():
        shutil.rmtree(host_root)
    host_root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(image_root), str(host_root)], check=True)


def personalise_root(root: Path, name: str, address: str) -> None:
    """What makes the copy this host: name, machine id, host keys, lab key."""
    (root / "etc/hostname").write_text(f"{name}\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n{address}\t{name}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    (root / "etc/machine-id").write_text(f"{uuid.uuid4().hex}\n")
    # No resolver: lab hosts have no route out; names are resolved by the proxy.
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text("# counselkit lab host: no DNS; reach the outside through the proxy\n")
    ssh.generate_host_keys(root)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(ssh.public_key() + "\n")
    keys.chmod(0o600)


def nspawn_argv(name: str, root: Path, netns: str) -> list[str]:
    # Started from the control machine's own mount namespace: wrapping this in
    # `ip netns exec` remounts /sys and nspawn then fails to detect cgroups.
    return [
        "systemd-nspawn",
        "--register=no",
        "--keep-unit",
        "--boot",
        f"--directory={root}",
        f"--machine={name}",
        f"--network-namespace-path={settings.NETNS_DIR / netns}",
        # The host owns its network namespace, so it may manage it (nftables, net.* sysctls) like a real host;
        # nspawn grants this by itself only with --private-network, which cannot join a prepared namespace.
        "--capability=CAP_NET_ADMIN",
        "--link-journal=no",  # keep the control machine's /var/log/journal untouched
        "--resolv-conf=off",
        "--console=read-only",  # boot messages go to the host's log file
    ]


# Each host has its own network namespace, so its net.* sysctls are its own: let it set them, as a real host
# would (nspawn keeps /proc/sys read-only otherwise). Kernel-wide sysctls stay read-only.
NSPAWN_ENV = {"SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}


def boot(host: LabHost, log_path: Path) -> LabProcess:
    env = {**os.environ, **NSPAWN_ENV}
    return spawn(f"host:{host.name}", nspawn_argv(host.name, host.root_path, host.netns), log_path, env=env)


def container_init(host: LabHost, nspawn: LabProcess) -> LabProcess | None:
    """The container's PID 1 as seen from the control side (child of nspawn).

    Recorded so ``down`` can kill the whole container if nspawn itself is gone.
    """
    for pid in children_of(nspawn.pid):
        return identify(f"init:{host.name}", pid, Path(nspawn.log_path))
    return None


def _retry_failed_units(host: LabHost) -> str:
    """Start failed units once more; return the new system state ('' if unknown).

    On a control machine with a hybrid cgroup hierarchy, a unit started while
    several containers boot at once now and then fails to attach to its cgroup;
    a second start succeeds. Anything that fails again stays failed.
    """
    retry = ("units=$(systemctl list-units --failed --plain --no-legend | awk '{print $1}'); "
             "[ -z \"$units\" ] || { systemctl reset-failed $units; systemctl start $units; }; "
             "systemctl is-system-running")
    try:
        return ssh.run(host, retry, timeout=60).stdout.strip()
    except subprocess.TimeoutExpired:
        return ""


def wait_ready(host: LabHost, nspawn: LabProcess, timeout: float = settings.BOOT_TIMEOUT) -> str:
    """Wait until SSH answers and systemd has finished booting; return its state."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not is_running(nspawn):
            raise LabError(f"{host.name}: systemd-nspawn exited during boot; last lines of "
                           f"{nspawn.log_path}:\n{log_tail(nspawn)}")
        remaining = max(5.0, deadline - time.monotonic())
        try:
            result = ssh.run(host, "systemctl is-system-running --wait", timeout=remaining)
        except subprocess.TimeoutExpired:
            break
        state = result.stdout.strip()
        if state == "degraded":
            state = _retry_failed_units(host) or state
        if state in READY_STATES:
            return state
        last = state or result.stderr.strip()
        time.sleep(0.5)
    raise LabError(f"{host.name} did not become ready within {timeout:.0f} s "
                   f"(last answer: {last or 'none'}); see {nspawn.log_path}")
