"""The Debian 12 lab image: recipe, its hash, and building it once into the cache.

The cache directory is ``IMAGE_CACHE_DIR/<recipe hash>/root``. The recipe is
the debootstrap parameters, the package list, the setup script below and the
control machine's CA files, so a change to any of them builds a new image;
nothing else does. A build goes to a temporary directory that is renamed into
place only when complete, so an interrupted build is never used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from counselkit.lab import settings
from counselkit.lab.console import say
from counselkit.lab.errors import LabError

#: Run inside the debootstrapped tree with chroot. Per-host identity (SSH host
#: keys, machine id, hostname) is deliberately removed here and created fresh
#: for each host at ``lab up``.
IMAGE_SETUP_SCRIPT = f"""\
set -eu
cat > /etc/apt/sources.list <<'SOURCES'
deb {settings.DEBIAN_MIRROR} {settings.DEBIAN_SUITE} main
deb {settings.DEBIAN_MIRROR} {settings.DEBIAN_SUITE}-updates main
deb {settings.DEBIAN_SECURITY_MIRROR} {settings.DEBIAN_SUITE}-security main
SOURCES
update-ca-certificates --fresh >/dev/null
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
echo lab-image > /etc/hostname
install -d -m 0700 /root/.ssh
# A container has no consoles, hardware clock or kernel modules to manage;
# these units can only fail there and would keep the system "degraded".
systemctl mask --quiet getty@tty1.service serial-getty@console.service \\
    systemd-udevd.service systemd-modules-load.service sys-kernel-config.mount \\
    2>/dev/null || true
# The per-user manager that an SSH login starts (libpam-systemd) can hang on
# stop inside the container and hold up poweroff for its full 90 s timeout.
install -d /etc/systemd/system/user@.service.d
printf '[Service]\\nTimeoutStopSec=5s\\n' > /etc/systemd/system/user@.service.d/counselkit-lab.conf
# No package lists in the image: hosts fetch them through the proxy, as at a site.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
"""


def _control_ca_files() -> list[Path]:
    if not settings.CONTROL_CA_DIR.is_dir():
        return []
    return sorted(p for p in settings.CONTROL_CA_DIR.rglob("*.crt") if p.is_file())


def recipe() -> dict[str, object]:
    """Everything that determines the image's content."""
    cas = {
        str(p.relative_to(settings.CONTROL_CA_DIR)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in _control_ca_files()
    }
    return {
        "suite": settings.DEBIAN_SUITE,
        "mirror": settings.DEBIAN_MIRROR,
        "variant": settings.DEBOOTSTRAP_VARIANT,
        "packages": sorted(settings.IMAGE_PACKAGES),
        "setup_script": IMAGE_SETUP_SCRIPT,
        "control_ca_files": cas,
    }


def recipe_hash() -> str:
    encoded = json.dumps(recipe(), sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def image_dir() -> Path:
    return settings.IMAGE_CACHE_DIR / recipe_hash()


def image_root() -> Path:
    return image_dir() / "root"


def is_cached() -> bool:
    return (image_dir() / "recipe.json").is_file() and (image_root() / "usr/bin/systemctl").exists()


def _run_logged(argv: list[str], log_path: Path, what: str) -> None:
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(argv)}\n".encode())
        log.flush()
        result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise LabError(f"{what} failed (exit {result.returncode}); see {log_path}")


def _copy_control_ca(root: Path) -> None:
    target_dir = root / settings.CONTROL_CA_DIR.relative_to("/")
    for source in _control_ca_files():
        target = target_dir / source.relative_to(settings.CONTROL_CA_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _build_into(root: Path, log_path: Path) -> None:
    debootstrap = [
        "debootstrap",
        f"--variant={settings.DEBOOTSTRAP_VARIANT}",
        f"--include={','.join(settings.IMAGE_PACKAGES)}",
        settings.DEBIAN_SUITE,
        str(root),
        settings.DEBIAN_MIRROR,
    ]
    _run_logged(debootstrap, log_path, "debootstrap")
    _copy_control_ca(root)
    _run_logged(["chroot", str(root), "/bin/sh", "-c", IMAGE_SETUP_SCRIPT], log_path, "image setup")


def _prune_stale_images(keep: Path) -> None:
    # Only directories named like a recipe hash: the cache dir is ours alone.
    for entry in settings.IMAGE_CACHE_DIR.iterdir():
        if entry != keep and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def ensure_image(log_path: Path) -> Path:
    """Return the cached image root, building it first when the recipe is new."""
    target = image_dir()
    if is_cached():
        say(f"image {target.name} is cached ({target})")
        return image_root()
    say(f"building the Debian {settings.DEBIAN_SUITE} image {target.name} with debootstrap "
        f"(about a minute; log: {log_path})")
    settings.IMAGE_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    building = settings.IMAGE_CACHE_DIR / f".build-{target.name}"
    shutil.rmtree(building, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    started = time.monotonic()
    try:
        _build_into(building / "root", log_path)
        (building / "recipe.json").write_text(json.dumps(recipe(), indent=2, sort_keys=True))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    building.rename(target)
    _prune_stale_images(keep=target)
    say(f"image built in {time.monotonic() - started:.0f} s")
    return image_root()
