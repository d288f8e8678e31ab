"""Synapse: one pinned release in one venv, one sandboxed systemd instance per tenant (matrix-synapse@<slug>).

Groups and users, directories, the copied requirements file and counselling module, the template unit, each
tenant's files, the daemon-reload, egress rules and restarts of what changed, and the instances come from the
component spec (counselkit/components/synapse.py), which roles/synapse loops over too. The venv install and the
signing keys are code, reading the spec's ``layout``.
"""

from __future__ import annotations

import hashlib
import shlex

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.facts.files import File
from pyinfra.facts.server import Command

from counselkit import layout
from counselkit.components import synapse as synapse_spec

from . import commands, managed
from .common import REPO, host_vars, in_container, owner_and_mode
from .components import (install_accounts, install_copies, install_directories, install_services, put_files,
                         run_handlers)
from .guard import DeployError


def requirements(version: str) -> str:
    """The hashed requirements file of `version` (scripts/synapse_requirements.py); a clear error when missing."""
    path = REPO / layout.synapse_requirements_file(version)
    if not path.is_file():
        raise DeployError(f"no hashed requirements for matrix-synapse {version}: {path} is missing; generate it with "
                          f"`python scripts/synapse_requirements.py {version}` and commit it (docs/operations.md)")
    return path.read_text()


@operation()
def synapse_venv(venv: str, requirements_path: str, requirements_sha256: str, stamp: str):
    """Create the venv and install exactly the hashed requirements, unless this very file was installed last.

    The stamp is written only after pip succeeded, so a failed install is retried on the next deploy."""
    installed = (host.get_fact(Command, f"cat {shlex.quote(stamp)} 2>/dev/null || true") or "").strip()
    if installed == requirements_sha256:
        host.noop(f"{venv} has exactly {requirements_path} (sha256 {requirements_sha256[:12]})")
        return
    if not host.get_fact(File, path=f"{venv}/bin/python"):
        yield commands.create_venv(venv)
    yield commands.pip_install_hashed(venv, requirements_path)
    yield f"echo {shlex.quote(requirements_sha256)} > {shlex.quote(stamp)}"


@operation()
def signing_key(venv: str, key_path: str, user: str):
    """Generate the tenant's signing key once, as the tenant's user; it is never replaced (remote servers and
    clients pin it)."""
    if managed.state(key_path):
        host.noop(f"signing key {key_path} exists")
        return
    managed.forget(key_path)  # it is written now: later readers must not trust the bulk read
    yield commands.generate_signing_key(venv, key_path, user)


@deploy("counselkit: Synapse")
def synapse() -> None:
    component = synapse_spec.synapse(host_vars())
    container = in_container()
    release = component.layout["release"]
    wanted = requirements(release["version"])  # before anything changes on the host
    install_accounts(component)  # before the files naming them and the egress rules (nft resolves the names)
    install_directories(component)
    changed = install_copies(component)  # the requirements file; the counselling module (restarts every instance)
    installed = synapse_venv(name=f"matrix-synapse {release['version']} in {release['venv']} (hashed requirements)",
                             venv=release["venv"], requirements_path=release["requirements"],
                             requirements_sha256=hashlib.sha256(wanted.encode()).hexdigest(), stamp=release["stamp"])
    changed.setdefault(release["handler"], []).append(installed)
    put_files(component, container, changed)  # the template unit, then each tenant's files
    for key in component.layout["signing_keys"]:
        managed.register(key["path"])
        signing_key(name=f"[{key['tenant']}] signing key (generated as {key['owner']})", venv=release["venv"],
                    key_path=key["path"], user=key["owner"])
        owner_and_mode(name=f"[{key['tenant']}] signing key owner", path=key["path"], user=key["owner"],
                       group=key["group"], mode=key["mode"])
    run_handlers(component, changed, container)  # daemon-reload, egress rules, then each instance that changed
    install_services(component, container)
