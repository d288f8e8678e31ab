"""The plan: placement, ports and names, and that the lock keeps them stable."""

from __future__ import annotations

from pathlib import Path

import pytest

from counselkit.lock import lock_path, read_lock
from counselkit.plan import load_plan
from counselkit.problems import InputError
from tests.support import example_data, tenant_entry, write_yaml


def two_hosts(tmp_path: Path, tenants: list[dict], capacity: int = 3) -> Path:
    data = example_data()
    data["platform"]["hosts"] = [
        {"name": "node1", "address": "192.0.2.1", "capacity_tenants": capacity},
        {"name": "node2", "address": "192.0.2.2", "capacity_tenants": capacity},
    ]
    data["tenants"] = tenants
    return write_yaml(tmp_path / "tenants.yaml", data)


def placement(path: Path) -> dict[str, tuple[str, int]]:
    return {t.slug: (t.host, t.synapse_port) for t in load_plan(path, update_lock=True).tenants()}


def test_names_are_derived_from_the_slug(example_copy: Path) -> None:
    tenant = load_plan(example_copy).tenant("diakonie-luebeck")
    assert tenant.domain == "diakonie-luebeck.beratung.example.org"
    assert tenant.db_name == tenant.db_user == "synapse_diakonie_luebeck"
    assert tenant.unit == "matrix-synapse@diakonie-luebeck.service"
    assert tenant.unix_user == "mx-diakonie-luebeck" and len(tenant.unix_user) <= 32
    assert tenant.secrets["restic_password"] == "tenants.diakonie-luebeck.restic_password"


def test_automatic_placement_spreads_and_explicit_wins(tmp_path: Path) -> None:
    path = two_hosts(tmp_path, [tenant_entry("aa-one"), tenant_entry("bb-two"), tenant_entry("cc-three", host="node1")])
    assert placement(path) == {"aa-one": ("node1", 8101), "bb-two": ("node2", 8101), "cc-three": ("node1", 8102)}


def test_adding_or_reordering_never_moves_a_tenant(tmp_path: Path) -> None:
    entries = [tenant_entry(slug) for slug in ("aa-one", "bb-two", "cc-three")]
    path = two_hosts(tmp_path, entries)
    before = placement(path)
    path = two_hosts(tmp_path, [tenant_entry("zz-new")] + list(reversed(entries)))
    after = placement(path)
    assert {slug: after[slug] for slug in before} == before
    assert after["zz-new"] not in before.values()


def test_removed_tenant_stays_reserved_until_offboarded(tmp_path: Path) -> None:
    path = two_hosts(tmp_path, [tenant_entry("aa-one"), tenant_entry("bb-two")])
    first = placement(path)
    path = two_hosts(tmp_path, [tenant_entry("bb-two"), tenant_entry("cc-three")])
    plan = load_plan(path, update_lock=True)
    assert [r.slug for r in plan.removed()] == ["aa-one"]
    newcomer = plan.tenant("cc-three")
    assert (newcomer.host, newcomer.synapse_port) != first["aa-one"]
    assert "aa-one" in read_lock(lock_path(path)).assignments


def test_moving_a_pinned_tenant_is_refused(tmp_path: Path) -> None:
    path = two_hosts(tmp_path, [tenant_entry("aa-one", host="node1")])
    placement(path)
    path = two_hosts(tmp_path, [tenant_entry("aa-one", host="node2")])
    with pytest.raises(InputError, match="is a migration"):
        load_plan(path)


def test_ports_unique_per_host_at_scale(tmp_path: Path) -> None:
    path = two_hosts(tmp_path, [tenant_entry(f"centre-{i:03d}") for i in range(40)], capacity=20)
    plan = load_plan(path)
    for host in plan.hosts:
        ports = [t.synapse_port for t in host.tenants]
        assert len(ports) == len(set(ports)) == 20


def test_plan_without_update_does_not_write_a_lock(example_copy: Path) -> None:
    load_plan(example_copy)
    assert not lock_path(example_copy).exists()
    load_plan(example_copy, update_lock=True)
    assert lock_path(example_copy).exists()
    assert all(not t.new for t in load_plan(example_copy).tenants())
