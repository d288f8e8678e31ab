"""The per-host plan: what runs where, under which names and ports. Every engine and report reads this."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, PrivateAttr

from . import layout
from .load import load_inventory
from .lock import Assignment, Lock, lock_path, read_lock, write_lock
from .model import Inventory, Platform, Tenant
from .problems import InputError, Problem
from .site import SiteOverrides, apply_site


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class TenantPlan(Frozen):
    slug: str
    host: str
    domain: str
    url: str
    synapse_port: int
    unix_user: str
    db_name: str
    db_user: str
    unit: str
    config_dir: str
    data_dir: str
    media_dir: str
    signing_key_path: str
    keycloak_realm: str
    oidc_client_id: str
    web_root: str
    backup_config_dir: str
    backup_repository: str
    secrets: dict[str, str]  # secret name -> reference in the secrets file
    new: bool  # not yet pinned in the lock file
    tenant: Tenant


class RemovedTenant(Frozen):
    """In the lock (so deployed once) but gone from tenants.yaml: its data stays until offboarded."""

    slug: str
    host: str
    port: int


class HostPlan(Frozen):
    name: str
    address: str
    ssh_port: int
    ssh_user: str  # who the deploy logs in as: root (the first, bootstrap run) or one of platform.admins
    capacity: int
    tenants: list[TenantPlan]
    removed: list[RemovedTenant]

    # The one place that decides how a deploy gets root, read by both engines (pyinfra `_sudo`, Ansible
    # `ansible_become`) and by sshd_config: an admin deploys through sudo, and then root's SSH login is off,
    # which never locks out this deploy's own path (validate allows only root and platform.admins here).
    @property
    def sudo(self) -> bool:
        return self.ssh_user != layout.ROOT_USER

    @property
    def permit_root_login(self) -> str:
        return "no" if self.sudo else "prohibit-password"


class Plan(Frozen):
    platform: Platform
    hosts: list[HostPlan]
    platform_secrets: dict[str, str]
    public_tcp_ports: tuple[int, ...] = layout.PUBLIC_TCP_PORTS
    keycloak_http_port: int = layout.KEYCLOAK_HTTP_PORT
    keycloak_management_port: int = layout.KEYCLOAK_MANAGEMENT_PORT
    _warnings: list[Problem] = PrivateAttr(default_factory=list)
    # The directory of tenants.yaml: files it names (a centre's logo) are read from there on the control machine.
    _source_dir: str = PrivateAttr(default=".")

    @property
    def source_dir(self) -> Path:
        """Where tenants.yaml lies (the files it names are relative to it)."""
        return Path(self._source_dir)

    @property
    def warnings(self) -> list[Problem]:
        """The inventory's warnings (validate prints them); not part of to_vars()."""
        return self._warnings
    site_root_keys: tuple[str, ...] = ()  # SiteOverrides.root_keys: root's keys besides the admins'

    def root_keys(self) -> list[str]:
        """root's authorized_keys: every admin's key, then the site's own; no duplicates."""
        return list(dict.fromkeys([*(a.ssh_key for a in self.platform.admins), *self.site_root_keys]))

    def host(self, name: str) -> HostPlan:
        return next(h for h in self.hosts if h.name == name)

    def tenants(self) -> list[TenantPlan]:
        return [t for h in self.hosts for t in h.tenants]

    def tenant(self, slug: str) -> TenantPlan:
        return next(t for t in self.tenants() if t.slug == slug)

    def removed(self) -> list[RemovedTenant]:
        return [r for h in self.hosts for r in h.removed]

    def to_vars(self) -> dict[str, Any]:
        """Plain data for `counselkit plan --json`: credentials in URLs (proxy, S3 endpoint) are redacted."""
        data = self.model_dump(mode="json")
        platform = data["platform"]
        if platform.get("proxy"):
            platform["proxy"] = redact_url(platform["proxy"])
        if platform.get("backup", {}).get("s3_endpoint"):
            platform["backup"]["s3_endpoint"] = redact_url(platform["backup"]["s3_endpoint"])
        return data


    def to_json(self) -> dict[str, Any]:
        """What pyinfra's `debug-inventory` prints for host.data.counselkit_plan (it calls .to_json()): to_vars()."""
        return self.to_vars()


def redact_url(url: str) -> str:
    """`url` with its user name and password replaced by '***' (for output; the real URL is in tenants.yaml)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***:***@{f'[{host}]' if ':' in host else host}{f':{parts.port}' if parts.port else ''}"
    return urlunsplit(parts._replace(netloc=netloc))


def build_plan(inventory: Inventory, lock: Lock, source: str = "tenants.yaml") -> tuple[Plan, Lock]:
    """Place every tenant: pinned ones stay, new ones go to their named host or the one with most room."""
    platform = inventory.platform
    pinned, problems = _pinned(inventory, lock, source)
    load = {host.name: 0 for host in platform.hosts}
    ports: dict[str, set[int]] = {host.name: set() for host in platform.hosts}
    for assignment in lock.assignments.values():  # removed tenants keep their host slot and port reserved
        if assignment.host in load:
            load[assignment.host] += 1
            ports[assignment.host].add(assignment.port)
    new_lock = Lock(dict(lock.assignments), source=lock.source, positions=lock.positions)
    for tenant in inventory.tenants:
        if tenant.slug in pinned:
            continue
        host = tenant.host or _roomiest_host(platform, load)
        if host is None or load[host] >= platform.host(host).capacity_tenants:
            problems.append(Problem(source, 0, 0, f"tenants[{tenant.slug}]", "no host has room left; add a host or raise capacity_tenants"))
            continue
        port = _free_port(ports[host])
        load[host] += 1
        ports[host].add(port)
        new_lock.assignments[tenant.slug] = Assignment(host, port)
    if problems:
        raise InputError(problems)
    return _assemble(inventory, new_lock, set(lock.assignments)), new_lock


def _pinned(inventory: Inventory, lock: Lock, source: str) -> tuple[set[str], list[Problem]]:
    host_names = {h.name for h in inventory.platform.hosts}
    present = {t.slug for t in inventory.tenants}
    problems = []
    pinned = set()
    for tenant in inventory.tenants:
        assignment = lock.assignments.get(tenant.slug)
        if assignment is None:
            continue
        if assignment.host not in host_names:
            problems.append(lock.problem(("tenants", tenant.slug, "host"), f"host '{assignment.host}' still holds tenant '{tenant.slug}' but is not in platform.hosts of {source}; keep the host until its tenants are moved"))
        elif tenant.host is not None and tenant.host != assignment.host:
            problems.append(Problem(source, 0, 0, f"tenants[{tenant.slug}].host", f"tenant '{tenant.slug}' lives on '{assignment.host}'; moving it to '{tenant.host}' is a migration (backup restore --to), not an edit"))
        pinned.add(tenant.slug)
    for slug, assignment in sorted(lock.assignments.items()):
        if slug not in present and assignment.host not in host_names:  # a removed tenant's data sits on that host
            problems.append(lock.problem(("tenants", slug, "host"), f"unknown host '{assignment.host}': removed tenant '{slug}' is pinned there but platform.hosts of {source} lists {', '.join(sorted(host_names))}; keep the host until the tenant is offboarded"))
    return pinned, problems


def _roomiest_host(platform: Platform, load: dict[str, int]) -> str | None:
    best, room = None, 0
    for host in platform.hosts:  # ties go to the host listed first
        free = host.capacity_tenants - load[host.name]
        if free > room:
            best, room = host.name, free
    return best


def _free_port(used: set[int]) -> int:
    port = layout.SYNAPSE_PORT_BASE
    while port in used:
        port += 1
    if port > layout.SYNAPSE_PORT_MAX:
        raise InputError([Problem("tenants.yaml", 0, 0, "tenants", "no free loopback port left on this host")])
    return port


def _assemble(inventory: Inventory, lock: Lock, previously_pinned: set[str]) -> Plan:
    platform = inventory.platform
    present = {t.slug for t in inventory.tenants}
    by_host: dict[str, list[TenantPlan]] = {h.name: [] for h in platform.hosts}
    for tenant in inventory.tenants:
        assignment = lock.assignments[tenant.slug]
        by_host[assignment.host].append(_tenant_plan(platform, tenant, assignment, tenant.slug not in previously_pinned))
    removed: dict[str, list[RemovedTenant]] = {h.name: [] for h in platform.hosts}
    for slug, assignment in sorted(lock.assignments.items()):
        if slug not in present and assignment.host in removed:
            removed[assignment.host].append(RemovedTenant(slug=slug, host=assignment.host, port=assignment.port))
    hosts = [
        HostPlan(name=h.name, address=h.address, ssh_port=h.ssh_port, ssh_user=h.ssh_user, capacity=h.capacity_tenants,
                 tenants=by_host[h.name], removed=removed[h.name])
        for h in platform.hosts
    ]
    platform_secrets = {name: layout.platform_secret_ref(name) for name in (*layout.PLATFORM_SECRETS, *layout.PROVIDED_SECRETS)}
    return Plan(platform=platform, hosts=hosts, platform_secrets=platform_secrets)


def _tenant_plan(platform: Platform, tenant: Tenant, assignment: Assignment, new: bool) -> TenantPlan:
    domain = tenant.domain(platform.domain)
    endpoint = str(platform.backup.s3_endpoint).rstrip("/")
    return TenantPlan(
        slug=tenant.slug,
        host=assignment.host,
        domain=domain,
        url=f"https://{domain}/",
        synapse_port=assignment.port,
        backup_repository=f"s3:{endpoint}/{platform.backup.bucket}/{tenant.slug}",
        secrets={name: layout.tenant_secret_ref(tenant.slug, name) for name in layout.TENANT_SECRETS},
        new=new,
        tenant=tenant,
        **layout.tenant_names(tenant.slug),
    )


def load_plan(tenants_file: Path | str, update_lock: bool = False, site: SiteOverrides | None = None) -> Plan:
    """Load tenants.yaml and its lock; with update_lock, pin new tenants in the lock file."""
    path = Path(tenants_file)
    inventory = load_inventory(path)
    if site is not None:
        inventory = apply_site(inventory, site)
    lock_file = lock_path(path)
    plan, lock = build_plan(inventory, read_lock(lock_file), source=str(path))
    if site is not None and site.root_keys:
        plan = plan.model_copy(update={"site_root_keys": tuple(site.root_keys)})
    if update_lock:
        write_lock(lock_file, lock)
    plan._warnings = inventory.warnings
    plan._source_dir = str(path.resolve().parent)
    return plan
