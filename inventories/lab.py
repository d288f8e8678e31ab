"""pyinfra inventory for the lab: the tenants file placed onto the running lab's hosts.

    pyinfra -y inventories/lab.py deploy/site.py        (tenants file: $COUNSELKIT_TENANTS, default tenants.yaml)

Host addresses, the forward proxy and S3 come from the lab state (`counselkit lab up`); SSH uses the lab key
with strict host key checking against the lab's known_hosts, as the plan's user (platform.hosts[].ssh_user: root,
or an admin whose ssh_key is the lab's public key).
"""

from inventories.common import pyinfra_hosts as _pyinfra_hosts

from counselkit.lab.state import load_state as _load_state
from counselkit.site import lab_site as _lab_site

_state = _load_state()
if _state is None:
    raise SystemExit("the lab is not up: run `counselkit lab up` first (see docs/lab.md)")

counselkit_hosts = _pyinfra_hosts(
    _lab_site(_state),
    ssh={
        h.name: {
            "ssh_key": str(h.ssh_key_path),
            "ssh_known_hosts_file": str(h.known_hosts_path),
            "ssh_strict_host_key_checking": "yes",
            "ssh_port": h.ssh_port,
        }
        for h in _state.hosts
    },
)
