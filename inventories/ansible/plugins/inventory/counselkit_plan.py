"""Ansible inventory plugin: the hosts of tenants.yaml, with exactly the data the pyinfra inventory gives them.

    ansible-playbook -i inventories/ansible/lab site.yml            (the lab; tenants file: $COUNSELKIT_TENANTS)
    ansible-playbook -i inventories/ansible/production site.yml     (real addresses from tenants.yaml)

Built on the same model and plan as inventories/common.py (counselkit.plan.load_plan + counselkit.site.lab_site,
counselkit.render.host_vars), so no name, port or path is computed here. Like the pyinfra inventory, it only reads:
the lock, the secrets file (with the internal-CA certificates) and, for production, the pinned known_hosts must be
current — `counselkit prepare` writes them — else parsing fails with one line saying what is missing. Secret values
are read by the roles with include_vars (ansible-vault), never put into hostvars.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: counselkit_plan
short_description: counselkit hosts and their plan data from tenants.yaml
description:
  - Reads tenants.yaml through counselkit's model and plan and adds one host per plan host with the pyinfra
    host data (counselkit, counselkit_tenants_file, counselkit_host) plus the role inputs derived from the plan.
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: ['counselkit_plan']
  site:
    description: C(lab) takes addresses, proxy and S3 from the running lab; C(production) uses tenants.yaml as is.
    type: str
    default: production
    choices: ['lab', 'production']
  tenants_file:
    description: Path of tenants.yaml; default $COUNSELKIT_TENANTS, else tenants.yaml at the repository root.
    type: str
    required: false
"""

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

REPO = Path(__file__).resolve().parents[4]
GROUP = "counselkit"


def _import_path() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def _layout() -> Any:
    from counselkit import layout

    return layout


def synapse_oidc_data(plan: Any, host_plan: Any) -> dict[str, Any]:
    """Per tenant of the host: the Synapse OIDC file of deploy/keycloak.py synapse_oidc() — its path, the template
    context without the client secret, and the secret's reference (the role reads the value from the vault)."""
    from counselkit.keycloak import render as kc

    return {
        tenant.slug: {
            "path": _layout().synapse_oidc_config(tenant.slug),
            "context": {"managed_by": kc.MANAGED_BY, **kc.synapse_oidc_plain_context(plan, tenant)},
            "secret_ref": tenant.secrets["oidc_client_secret"],
        }
        for tenant in host_plan.tenants
    }


def keycloak_data(plan: Any, host_plan: Any) -> dict[str, Any]:
    """What the synapse role needs of Keycloak: each tenant's OIDC provider. Keycloak's own lists and contexts are
    its component spec (counselkit_components.keycloak)."""
    return {"synapse_oidc": synapse_oidc_data(plan, host_plan)}


def host_data(plan: Any, host_plan: Any, tenants_file: Path) -> dict[str, Any]:
    """Hostvars of one plan host: the pyinfra host data (inventories/common.py) plus role inputs, all plain data."""
    from counselkit import layout, render
    from counselkit.components.registry import host_components

    secrets_file = (tenants_file.parent / plan.platform.secrets_file).resolve()  # as counselkit.secrets.SecretStore.open
    host_vars = render.host_vars(plan, host_plan)
    return {
        # the same three keys pyinfra's inventory attaches (inventories/common.py)
        "counselkit": host_vars,
        "counselkit_tenants_file": str(tenants_file),
        "counselkit_host": host_plan.name,
        # where the roles find the shared templates and the encrypted secrets file
        "counselkit_templates": str(render.TEMPLATES_DIR),
        "counselkit_repository": str(REPO),  # where a component's copies (Copy.source) are read
        "counselkit_secrets_file": str(secrets_file),
        "counselkit_host_templates": dict(render.HOST_TEMPLATES),
        "counselkit_tenant_templates": dict(render.TENANT_TEMPLATES),
        # the component specs (counselkit/components): the lists the roles loop over, as deploy/ does
        "counselkit_components": {name: c.as_data() for name, c in host_components(host_vars).items()},
        "counselkit_layout": {
            "POSTGRES_UNIT": layout.POSTGRES_UNIT, "POSTGRES_HBA": layout.POSTGRES_HBA,
            "POSTGRES_CONF_DROPIN": layout.POSTGRES_CONF_DROPIN, "POSTGRES_VERSION": layout.POSTGRES_VERSION,
            "POSTGRES_MAINTENANCE_DBS": list(layout.POSTGRES_MAINTENANCE_DBS),
            "NGINX_DEFAULT_SITE": layout.NGINX_DEFAULT_SITE, "INTERNAL_CA_CERT": layout.INTERNAL_CA_CERT,
            "SYNAPSE_CONFIG_ROOT": layout.SYNAPSE_CONFIG_ROOT,
            "AIDE_DB": layout.AIDE_DB, "AIDE_INIT_UNIT": layout.AIDE_INIT_UNIT,
            "PENDING_SECURITY_UPDATES": layout.PENDING_SECURITY_UPDATES,
            "NFTABLES_EGRESS_DIR": layout.NFTABLES_EGRESS_DIR, "NFTABLES_EGRESS_MODE": layout.NFTABLES_EGRESS_MODE,
            "NFTABLES_RELOAD": layout.NFTABLES_RELOAD,
        },
        "counselkit_keycloak": keycloak_data(plan, host_plan),
        "ansible_host": host_plan.address,
        "ansible_user": host_plan.ssh_user,
        "ansible_port": host_plan.ssh_port,
        "ansible_become": host_plan.sudo,  # an admin deploys through sudo (HostPlan.sudo, as pyinfra's _sudo)
    }


class InventoryModule(BaseInventoryPlugin):
    NAME = "counselkit_plan"

    @staticmethod
    def _checked_plan(tenants_file: Path, site: Any, pin_host_keys: bool) -> Any:
        """The plan, read only (counselkit.prepare.prepared_plan, as inventories/common.py): nothing is written."""
        from counselkit.prepare import PlanUnavailable, prepared_plan

        try:
            return prepared_plan(tenants_file, site, known_hosts=pin_host_keys)
        except PlanUnavailable as exc:
            raise AnsibleParserError(str(exc)) from None

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("counselkit.yml", "counselkit.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        _import_path()
        from counselkit.options import tenants_path

        site_name = self.get_option("site")
        tenants_file = tenants_path(self.get_option("tenants_file"), REPO / "tenants.yaml").resolve()
        ssh: dict[str, dict[str, Any]] = {}
        site = None
        if site_name == "lab":
            from counselkit.lab.state import load_state
            from counselkit.site import lab_site

            state = load_state()
            if state is None:
                raise AnsibleParserError("the lab is not up: run `counselkit lab up` first (see docs/lab.md)")
            site = lab_site(state)
            ssh = {
                h.name: {
                    "ansible_ssh_private_key_file": str(h.ssh_key_path),
                    "ansible_ssh_common_args": f"-F none -o IdentitiesOnly=yes -o UserKnownHostsFile={h.known_hosts_path} "
                                               "-o StrictHostKeyChecking=yes",
                    "ansible_port": h.ssh_port,  # the user is the plan's, as in inventories/lab.py
                }
                for h in state.hosts
            }
        plan = self._checked_plan(tenants_file, site, pin_host_keys=site_name == "production")
        if site_name == "production":  # pinned host keys only, as inventories/production.py: no trust on first use
            from counselkit.hostkeys import known_hosts_path

            known_hosts = known_hosts_path(tenants_file)
            ssh = {h.name: {"ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"}
                   for h in plan.hosts}

        self.inventory.add_group(GROUP)
        for host_plan in plan.hosts:
            name = self.inventory.add_host(host_plan.name, group=GROUP)
            data = host_data(plan, host_plan, tenants_file)
            data.update(ssh.get(host_plan.name, {}))
            for key, value in data.items():
                self.inventory.set_variable(name, key, value)
