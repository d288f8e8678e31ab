"""pyinfra inventory for production: the hosts of tenants.yaml at their real addresses.

    pyinfra -y inventories/production.py deploy/site.py   (tenants file: $COUNSELKIT_TENANTS, default tenants.yaml)

SSH settings beyond user and port (key, known_hosts, jump host) come from the operator's ~/.ssh/config, as usual.
"""

from inventories.common import pyinfra_hosts as _pyinfra_hosts

counselkit_hosts = _pyinfra_hosts(None)
