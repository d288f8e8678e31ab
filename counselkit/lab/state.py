"""The lab state file: what is up, where, and how to reach it.

This is the lab's public Python API for the rest of the code base
(``inventories/lab.py``, the Ansible inventory, pytest fixtures, molecule):
``load_state()`` returns a :class:`LabState` or ``None`` when no lab is up.
The file is root-only (0600) because it holds the S3 credentials.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from counselkit.lab import settings
from counselkit.lab.errors import LabError
from counselkit.lab.processes import LabProcess


class LabHost(BaseModel):
    name: str
    address: str  # host side of the veth, what SSH connects to
    control_address: str  # control side of the veth
    ssh_port: int = settings.SSH_PORT
    ssh_user: str = settings.SSH_USER
    ssh_key_path: Path
    known_hosts_path: Path
    netns: str
    veth: str
    root_path: Path


class S3Settings(BaseModel):
    endpoint: str
    region: str
    access_key: str
    secret_key: str


class SmtpSinkSettings(BaseModel):
    host: str  # the service address
    port: int
    mail_dir: Path  # one .eml file per received message


class LabState(BaseModel):
    hosts: list[LabHost]
    proxy_url: str | None = None
    s3: S3Settings | None = None
    smtp_sink: SmtpSinkSettings | None = None  # None in a lab brought up before the sink existed
    state_dir: Path = settings.STATE_DIR
    #: "starting" while ``lab up`` is still creating things; "up" when ready.
    phase: Literal["starting", "up"] = "starting"
    image_dir: Path | None = None
    service_address: str | None = None  # set once added to ``lo``
    processes: list[LabProcess] = []
    #: Whether the lab itself turned /run/netns into a mount point, so ``down``
    #: unmounts it only then.
    created_netns_mount: bool = False

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none"
        raise LabError(f"no lab host named {name!r} (lab hosts: {known})")

    def process(self, role: str) -> LabProcess | None:
        return next((p for p in self.processes if p.role == role), None)


def load_state(path: Path = settings.STATE_FILE) -> LabState | None:
    """The current lab state, or None when the lab is down."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    except PermissionError as exc:
        raise LabError(f"cannot read {path}: the lab state is root-only; run as root") from exc
    try:
        return LabState.model_validate_json(raw)
    except ValidationError as exc:
        raise LabError(f"{path} is not a valid lab state ({exc.error_count()} errors); "
                       "run `counselkit lab down` to clean up") from exc


def save_state(state: LabState, path: Path = settings.STATE_FILE) -> None:
    """Write atomically with mode 0600 (it holds credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(state.model_dump_json(indent=2))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def remove_state(path: Path = settings.STATE_FILE) -> None:
    path.unlink(missing_ok=True)
