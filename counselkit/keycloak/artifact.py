"""The pinned Keycloak release archive on the control machine: found in COUNSELKIT_ARTIFACTS or downloaded
once into a cache, and in both cases accepted only when its SHA-256 matches platform.artifacts.keycloak."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from .. import layout
from ..model.platform import Artifact

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "counselkit" / "artifacts"
MISSING_PIN = ("platform.artifacts.keycloak is not set in tenants.yaml: pin the release with version, url and "
               "sha256 (see docs/keycloak.md, 'Installing offline')")


class ArtifactError(Exception):
    """The archive is missing, unreachable or does not match its pinned checksum."""


def archive_name(version: str) -> str:
    """The file name upstream publishes the release under (and the name expected in COUNSELKIT_ARTIFACTS)."""
    return f"keycloak-{version}.tar.gz"


def artifacts_dir() -> Path | None:
    value = os.environ.get(layout.ARTIFACTS_ENV)
    return Path(value) if value else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_archive(version: str) -> Path | None:
    """The archive in COUNSELKIT_ARTIFACTS, if that is set and holds it."""
    directory = artifacts_dir()
    if directory is None:
        return None
    candidate = directory / archive_name(version)
    return candidate if candidate.is_file() else None


def _verified(path: Path, artifact: Artifact) -> Path:
    actual = sha256_of(path)
    if actual != artifact.sha256:
        raise ArtifactError(f"{path}: SHA-256 is {actual}, but tenants.yaml pins {artifact.sha256} for Keycloak "
                            f"{artifact.version}; the file is not the pinned release (or the pin is wrong)")
    return path


def fetch(artifact: Artifact | None, allow_download: bool = True) -> Path:
    """A verified local path to the pinned archive: COUNSELKIT_ARTIFACTS first, then the cache, then the URL."""
    if artifact is None:
        raise ArtifactError(MISSING_PIN)
    name = archive_name(artifact.version)
    local = local_archive(artifact.version)
    if local is not None:
        return _verified(local, artifact)
    if artifacts_dir() is not None:
        raise ArtifactError(f"{layout.ARTIFACTS_ENV}={artifacts_dir()} does not hold {name}")
    cached = CACHE_DIR / name
    if cached.is_file():
        return _verified(cached, artifact)
    if not allow_download:
        raise ArtifactError(f"{name} is not available: set {layout.ARTIFACTS_ENV} to a directory holding it")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(str(artifact.url), timeout=60) as response:  # noqa: S310
            while block := response.read(1 << 20):
                out.write(block)
        _verified(Path(tmp), artifact)
        os.replace(tmp, cached)
    except OSError as exc:
        raise ArtifactError(f"cannot download {artifact.url}: {exc}; on an air-gapped site put {name} into a "
                            f"directory and set {layout.ARTIFACTS_ENV} to it") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return cached
