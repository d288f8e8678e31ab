"""Network namespaces, veth pairs and the control-side service address.

Each host i gets netns ``ck-node<i>`` with one interface, ``host0``
(10.248.<i>.2/24), whose peer ``ckv-node<i>`` (10.248.<i>.1/24) stays on the
control side. The only route inside besides the link is a /32 to the service
address 10.248.0.1 (on the control side's ``lo``), where the proxy and the S3
server listen. There is no default route, and the lab never enables IP
forwarding, so a lab host cannot reach anything else.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from counselkit.lab import settings
from counselkit.lab.errors import LabError


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise LabError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def mount_points() -> set[str]:
    points = set()
    for line in Path("/proc/self/mounts").read_text().splitlines():
        # Mount points escape spaces as \040; our paths have none.
        points.add(line.split()[1])
    return points


def netns_dir_is_mounted() -> bool:
    return str(settings.NETNS_DIR) in mount_points()


def netns_exists(netns: str) -> bool:
    return (settings.NETNS_DIR / netns).exists()


def link_exists(name: str) -> bool:
    return ip("link", "show", "dev", name, check=False).returncode == 0


def create_host_link(netns: str, veth: str, control_address: str, host_address: str) -> None:
    if netns_exists(netns) or link_exists(veth):
        raise LabError(f"{netns} or {veth} already exists: leftovers of an earlier lab; "
                       "run `counselkit lab down` first")
    plen = settings.LINK_PREFIXLEN
    ip("netns", "add", netns)
    ip("link", "add", veth, "type", "veth", "peer", "name", settings.HOST_IFACE, "netns", netns)
    ip("addr", "add", f"{control_address}/{plen}", "dev", veth)
    ip("link", "set", veth, "up")
    ip("-n", netns, "link", "set", "lo", "up")
    ip("-n", netns, "addr", "add", f"{host_address}/{plen}", "dev", settings.HOST_IFACE)
    ip("-n", netns, "link", "set", settings.HOST_IFACE, "up")
    ip("-n", netns, "route", "add", f"{settings.SERVICE_ADDRESS}/32", "via", control_address)


def remove_host_link(netns: str, veth: str) -> None:
    # Deleting one end of a veth deletes both; deleting the netns removes its
    # bind mount under /run/netns.
    if link_exists(veth):
        ip("link", "del", veth)
    if netns_exists(netns):
        ip("netns", "del", netns)


def service_address_present() -> bool:
    out = ip("-o", "-4", "addr", "show", "dev", "lo").stdout
    return f" {settings.SERVICE_ADDRESS}/32 " in out


def add_service_address() -> None:
    if not service_address_present():
        ip("addr", "add", f"{settings.SERVICE_ADDRESS}/32", "dev", "lo", "label", settings.SERVICE_LABEL)


def remove_service_address() -> None:
    if service_address_present():
        ip("addr", "del", f"{settings.SERVICE_ADDRESS}/32", "dev", "lo")


def unmount_netns_dir_if_unused() -> None:
    """Undo the /run/netns mount `ip netns add` made, when no namespace is left."""
    if netns_dir_is_mounted() and not any(settings.NETNS_DIR.iterdir()):
        subprocess.run(["umount", str(settings.NETNS_DIR)], capture_output=True, check=False)


def routed_inside_lab(address: str) -> bool:
    """True if the control machine routes ``address`` over a lab link or locally.

    Checked before connecting to a lab address: when the lab is down, a 10.248.x
    address would otherwise follow the default route off this machine.
    """
    result = ip("-o", "route", "get", address, check=False)
    if result.returncode != 0:
        return False
    words = result.stdout.split()
    dev = words[words.index("dev") + 1] if "dev" in words else ""
    return dev.startswith(settings.VETH_CONTROL_PREFIX) or dev == "lo"
