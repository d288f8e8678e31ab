"""Site overrides: where the same tenants.yaml meets a particular place (the lab, a staging site).

Only connection details change — host addresses, proxy, backup endpoint — never names, ports or tenants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .model import Inventory

if TYPE_CHECKING:
    from .lab.state import LabState


@dataclass(frozen=True)
class SiteOverrides:
    host_addresses: dict[str, str] = field(default_factory=dict)
    proxy: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    no_proxy: tuple[str, ...] = ()
    root_keys: tuple[str, ...] = ()  # SSH keys for root besides the admins' (the lab's own key)


def apply_site(inventory: Inventory, site: SiteOverrides) -> Inventory:
    platform = inventory.platform
    hosts = [h.model_copy(update={"address": site.host_addresses.get(h.name, h.address)}) for h in platform.hosts]
    backup_update: dict[str, object] = {}
    if site.s3_endpoint:
        backup_update["s3_endpoint"] = site.s3_endpoint
    if site.s3_region:
        backup_update["region"] = site.s3_region
    update: dict[str, object] = {"hosts": hosts, "backup": platform.backup.model_copy(update=backup_update)}
    if site.proxy:
        update["proxy"] = site.proxy
    if site.no_proxy:
        update["no_proxy"] = [*platform.no_proxy, *site.no_proxy]
    changed = inventory.model_copy(update={"platform": platform.model_copy(update=update)})
    changed._source = inventory.source
    return changed


def lab_site(state: "LabState") -> SiteOverrides:
    """The lab as a site: its host addresses, its forward proxy, its S3 server and its SSH key for root."""
    from .lab.ssh import public_key

    return SiteOverrides(
        host_addresses={host.name: host.address for host in state.hosts},
        proxy=state.proxy_url,
        s3_endpoint=state.s3.endpoint if state.s3 else None,
        s3_region=state.s3.region if state.s3 else None,
        # The lab's S3 server sits beside its proxy on the control side; the proxy only tunnels port 443.
        no_proxy=(urlsplit(state.s3.endpoint).hostname or "",) if state.s3 else (),
        root_keys=(public_key(),),  # the lab logs in as root with its own key, which is no admin's
    )
