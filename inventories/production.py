"""pyinfra inventory for production: the hosts of tenants.yaml at their real addresses.

    pyinfra -y inventories/production.py deploy/site.py   (tenants file: $COUNSELKIT_TENANTS, default tenants.yaml)

Host keys are pinned: SSH runs with StrictHostKeyChecking=yes against the keys of platform.hosts[].host_keys
only (written to <tenants>.known_hosts next to tenants.yaml), and the inventory refuses a host without one.
Other SSH settings (key, jump host) come from the operator's ~/.ssh/config, as usual.
"""

from inventories.common import pyinfra_hosts as _pyinfra_hosts

counselkit_hosts = _pyinfra_hosts(None, pin_host_keys=True)
