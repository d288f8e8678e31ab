"""The lab's naming and address scheme, derived from settings (host index i >= 1)."""

from __future__ import annotations

import ipaddress

from counselkit.lab import settings


def host_name(index: int) -> str:
    return f"{settings.HOST_PREFIX}{index}"


def host_index(name: str) -> int:
    prefix = settings.HOST_PREFIX
    if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        raise ValueError(f"not a lab host name: {name!r}")
    return int(name[len(prefix):])


def netns_name(name: str) -> str:
    return f"{settings.NETNS_PREFIX}{name}"


def veth_name(name: str) -> str:
    return f"{settings.VETH_CONTROL_PREFIX}{name}"


def _link_network(index: int) -> ipaddress.IPv4Network:
    # Index 0 is reserved for the service address, hence i >= 1.
    base = int(settings.LAB_NET.network_address) + (index << 8)
    return ipaddress.IPv4Network(f"{ipaddress.IPv4Address(base)}/{settings.LINK_PREFIXLEN}")


def control_address(index: int) -> str:
    """Control-side end of host ``index``'s veth (10.248.<i>.1)."""
    return str(_link_network(index).network_address + 1)


def host_address(index: int) -> str:
    """Host-side end of host ``index``'s veth (10.248.<i>.2)."""
    return str(_link_network(index).network_address + 2)


def proxy_url() -> str:
    return f"http://{settings.SERVICE_ADDRESS}:{settings.PROXY_PORT}"


def s3_endpoint() -> str:
    return f"http://{settings.SERVICE_ADDRESS}:{settings.S3_PORT}"


def smtp_sink_address() -> tuple[str, int]:
    """Where lab hosts deliver mail: the SMTP sink on the service address."""
    return settings.SERVICE_ADDRESS, settings.SMTP_SINK_PORT
