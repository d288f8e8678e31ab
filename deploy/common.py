"""What every packaged deploy shares: the host's template context, secrets, managed files, container detection.

The inventory (inventories/*.py) attaches `counselkit` (counselkit.render.host_vars: plain plan data, no secret
values) and `counselkit_tenants_file` to each host. Secret values are read here, on the control machine, from the
encrypted secrets file and only ever go into files uploaded with restrictive modes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.facts.server import Command

from counselkit import render

from . import managed

REPO = Path(__file__).resolve().parents[1]  # the repository: where component copies come from
_contexts: dict[str, dict[str, Any]] = {}
_stores: dict[str, Any] = {}


def host_vars() -> dict[str, Any]:
    return host.data.counselkit


def secret_store() -> Any:
    """The secrets file next to the host's tenants file, opened once per run."""
    from counselkit.secrets import SecretStore

    tenants_file = host.data.counselkit_tenants_file
    if tenants_file not in _stores:
        _stores[tenants_file] = SecretStore.open(tenants_file)
    return _stores[tenants_file]


def secret(ref: str) -> str:
    return secret_store().get(ref)


def context() -> dict[str, Any]:
    """The template context of the current host (counselkit.render.host_context), built once per host."""
    if host.name not in _contexts:
        _contexts[host.name] = render.host_context(host_vars(), secret)
    return _contexts[host.name]


def put(name: str, dest: str, content: str, user: str = "root", group: str = "root", mode: str = "644"):
    managed.register(dest)
    return managed.file(name=name, dest=dest, content=content, user=user, group=group, mode=mode)


def directory(name: str, path: str, user: str = "root", group: str = "root", mode: str = "755"):
    managed.register(path)
    return managed.directory(name=name, path=path, user=user, group=group, mode=mode)


def owner_and_mode(name: str, path: str, user: str = "root", group: str = "root", mode: str = "644"):
    managed.register(path)
    return managed.owner_and_mode(name=name, path=path, user=user, group=group, mode=mode)


def put_template(template: str, dest: str, ctx: dict[str, Any] | None = None, **kwargs: str):
    return put(f"Render {dest}", dest, render.render(template, ctx or context()), **kwargs)


def virtualization() -> str:
    """systemd-detect-virt --container: 'none' on a real host or VM, else the container kind (e.g. systemd-nspawn)."""
    return (host.get_fact(Command, "systemd-detect-virt --container 2>/dev/null || true") or "none").strip() or "none"


def in_container() -> bool:
    return virtualization() != "none"
