"""The whole "lite" installation of every host in the inventory: `pyinfra -y inventories/lab.py deploy/site.py`.

Order: refuse if tenants would be orphaned -> apt/proxy -> base hardening -> PostgreSQL -> Synapse -> nginx.
"""

from deploy.base import apt_setup, base
from deploy.guard import refuse_orphaned_tenants
from deploy.nginx import nginx
from deploy.postgres import postgresql
from deploy.synapse import synapse

refuse_orphaned_tenants()
apt_setup()
base()
postgresql()
synapse()
nginx()
