"""The lab host a molecule verifier checks, and its hostvars exactly as the counselkit_plan inventory plugin makes them.

(testinfra's own Ansible backend cannot read ansible-core 2.19's `ansible-inventory --list` output — it tags
strings as `__ansible_unsafe` — so the verifiers connect over SSH like tests/lab does.)
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "inventories" / "ansible" / "plugins" / "inventory" / "counselkit_plan.py"


def _plugin() -> Any:
    spec = importlib.util.spec_from_file_location("counselkit_plan_inventory", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def target(name: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The scenario's host: $COUNSELKIT_MOLECULE_HOST (molecule.yml's platform), default node4."""
    import testinfra

    from tests.checks.molecule_env import molecule_host

    from counselkit.lab.state import load_state
    from counselkit.plan import load_plan
    from counselkit.site import lab_site

    name = name or molecule_host()
    state = load_state()
    assert state is not None, "the lab is not up"
    lab_host = state.host(name)
    tenants_file = Path(os.environ["COUNSELKIT_TENANTS"]).resolve()
    plan = load_plan(tenants_file, site=lab_site(state))
    host = testinfra.get_host(
        f"ssh://{lab_host.ssh_user}@{lab_host.address}", ssh_identity_file=str(lab_host.ssh_key_path),
        ssh_extra_args=f"-F none -o UserKnownHostsFile={lab_host.known_hosts_path} -o StrictHostKeyChecking=yes")
    return host, _plugin().host_data(plan, plan.host(name), tenants_file)
