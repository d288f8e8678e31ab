"""Checks and installs what the lab needs on the control machine."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

from counselkit.lab import settings
from counselkit.lab.console import say
from counselkit.lab.errors import LabError

# Root's PATH has the sbin directories; a sudo'd or cron environment may not.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
)


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root: it creates network namespaces and veth pairs and boots "
            "containers with systemd-nspawn. Run it as root (e.g. with sudo)."
        )


def find_command(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


def missing_packages() -> list[str]:
    packages = {pkg for cmd, pkg in settings.PREREQUISITE_COMMANDS.items() if not find_command(cmd)}
    return sorted(packages)


def _run(argv: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    result = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-15:])
        raise LabError(f"`{' '.join(argv)}` failed (exit {result.returncode}):\n{tail}")


def install_debian_packages() -> None:
    packages = missing_packages()
    if not packages:
        return
    if not find_command("apt-get"):
        raise LabError(f"missing prerequisites {', '.join(packages)} and no apt-get to install them")
    say(f"installing missing prerequisites with apt-get: {' '.join(packages)}")
    _run(["apt-get", "update"])
    _run(["apt-get", "install", "-y", "--no-install-recommends", *packages])
    still = missing_packages()
    if still:
        raise LabError(f"prerequisites still missing after apt-get install: {', '.join(still)}")


def install_s3_server() -> None:
    # The S3 server runs under this interpreter (python -m moto.server), so it
    # is installed into this environment with this interpreter's pip.
    if importlib.util.find_spec("moto") and importlib.util.find_spec("flask"):
        return
    say(f"installing missing prerequisite with pip: {settings.S3_SERVER_REQUIREMENT}")
    _run([sys.executable, "-m", "pip", "install", "--quiet", settings.S3_SERVER_REQUIREMENT])
    importlib.invalidate_caches()


def install_smtp_sink() -> None:
    # Like the S3 server: the sink runs under this interpreter (python -m counselkit.lab.smtp_sink).
    if importlib.util.find_spec("aiosmtpd"):
        return
    say(f"installing missing prerequisite with pip: {settings.SMTP_SINK_REQUIREMENT}")
    _run([sys.executable, "-m", "pip", "install", "--quiet", settings.SMTP_SINK_REQUIREMENT])
    importlib.invalidate_caches()


def ensure_prerequisites() -> None:
    require_root()
    install_debian_packages()
    install_s3_server()
    install_smtp_sink()
