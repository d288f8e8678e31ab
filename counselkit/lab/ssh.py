"""The lab SSH key, the lab known_hosts file, and running commands on hosts.

Host keys are generated on the control side before a host boots, so the
known_hosts file is written up front and SSH runs with strict host key
checking from the first connection on (no trust-on-first-use).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from counselkit.lab import settings
from counselkit.lab.errors import LabError
from counselkit.lab.network import routed_inside_lab

if TYPE_CHECKING:
    from counselkit.lab.state import LabHost


def ensure_lab_key() -> Path:
    key = settings.SSH_KEY
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "counselkit-lab", "-f", str(key)],
            check=True,
        )
    return key


def public_key() -> str:
    return Path(f"{settings.SSH_KEY}.pub").read_text().strip()


def generate_host_keys(root: Path) -> None:
    """Fresh host keys in ``root``/etc/ssh: ssh-keygen -A with -f as prefix."""
    (root / "etc/ssh").mkdir(parents=True, exist_ok=True)
    for stale in (root / "etc/ssh").glob("ssh_host_*"):
        stale.unlink()
    # -A prints what it generates even with -q; keep lab up output readable.
    subprocess.run(["ssh-keygen", "-q", "-A", "-f", str(root)], check=True, stdout=subprocess.DEVNULL)


def known_hosts_lines(name: str, address: str, root: Path) -> list[str]:
    lines = []
    for pub in sorted((root / "etc/ssh").glob("ssh_host_*_key.pub")):
        keytype, blob = pub.read_text().split()[:2]
        lines.append(f"{address},{name} {keytype} {blob}")
    return lines


def write_known_hosts(lines: list[str]) -> None:
    settings.KNOWN_HOSTS.write_text("".join(f"{line}\n" for line in lines))


def ssh_options(host: LabHost) -> list[str]:
    return [
        "-F", "none",  # the lab must not depend on the caller's ~/.ssh/config
        "-i", str(host.ssh_key_path),
        "-p", str(host.ssh_port),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={host.known_hosts_path}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "ConnectTimeout=5",
        "-o", "LogLevel=ERROR",
    ]


def ssh_argv(host: LabHost, command: list[str] | None = None, batch: bool = True, tty: bool = False) -> list[str]:
    if not routed_inside_lab(host.address):
        # Never let a lab address go out through the default route.
        raise LabError(f"{host.address} is not routed to a lab link; is the lab up?")
    argv = ["ssh", *ssh_options(host)]
    if batch:
        argv += ["-o", "BatchMode=yes"]
    if tty:
        argv.append("-t")
    argv.append(f"{host.ssh_user}@{host.address}")
    if command:
        argv += ["--", *command]
    return argv


def run(host: LabHost, command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a shell command line on ``host``; returns the completed process."""
    return subprocess.run(
        ssh_argv(host, [command]),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
