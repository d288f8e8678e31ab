"""Pinned SSH host keys for production deploys: platform.hosts[].host_keys -> a known_hosts file.

Both production inventories (inventories/production.py, inventories/ansible/production) connect with
StrictHostKeyChecking=yes against this file only, so the first connection is not trust-on-first-use, and they
refuse to start while any host has no pinned key. The file is derived data next to tenants.yaml (like the lock
file), written by `counselkit prepare` only; the inventories check that it is current.
"""

from __future__ import annotations

import os
from pathlib import Path

from .plan import Plan

SUFFIX = ".known_hosts"


class UnpinnedHostError(ValueError):
    pass


def known_hosts_path(tenants_file: Path) -> Path:
    return tenants_file.with_name(tenants_file.stem + SUFFIX)


def known_hosts_lines(plan: Plan) -> list[str]:
    lines = []
    for host in plan.hosts:
        # ssh looks up "[address]:port" for a port other than 22
        target = host.address if host.ssh_port == 22 else f"[{host.address}]:{host.ssh_port}"
        for key in plan.platform.host(host.name).host_keys:
            keytype, blob = key.split()[:2]
            lines.append(f"{target} {keytype} {blob}")
    return lines


def known_hosts_text(plan: Plan, tenants_file: Path) -> str:
    """The known_hosts file of every plan host; raise (naming file and field) when a host has no pinned key."""
    missing = [h.name for h in plan.hosts if not plan.platform.host(h.name).host_keys]
    if missing:
        fields = ", ".join(f"platform.hosts[{name}].host_keys" for name in missing)
        raise UnpinnedHostError(
            f"{tenants_file}: {fields}: no pinned SSH host key. Production deploys connect with strict host key "
            "checking only: add each host's public host key (e.g. the line of /etc/ssh/ssh_host_ed25519_key.pub, "
            "read on the console or compared by fingerprint out of band). Nothing has been changed.")
    return "".join(f"{line}\n" for line in known_hosts_lines(plan))


def write_known_hosts(plan: Plan, tenants_file: Path) -> bool:
    """Write the known_hosts of every plan host (`counselkit prepare`); True when the file changed. An unchanged
    file is not touched, so a second prepare writes nothing."""
    text = known_hosts_text(plan, tenants_file)
    path = known_hosts_path(tenants_file)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same directory: the rename is atomic
    temp.write_text(text, encoding="utf-8")
    temp.chmod(0o644)
    os.replace(temp, path)
    return True
