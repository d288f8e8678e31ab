"""The whole "lite" installation of every host in the inventory: `pyinfra -y inventories/lab.py deploy/site.py`.

Order: refuse if tenants would be orphaned -> apt/proxy -> base hardening -> PostgreSQL -> [Keycloak] -> Synapse
-> [Synapse OIDC] -> nginx -> [backups] -> AIDE baseline (background). Bracketed parts are other components' deploys (deploy/keycloak.py,
deploy/backup.py), run only when configured: Keycloak when platform.artifacts.keycloak is set, backups when the
storage provider's S3 keys are in the secrets file (`counselkit secrets set platform.backup_s3_access_key`).

`--data keycloak_with_archive=false` stops Keycloak before its release archive, as roles/keycloak does (the role's
variable of the same name): no upload, build, start or realm provisioning, while the Synapse OIDC files and nginx's
Keycloak paths are written. For a site (or a test) whose archive is not at hand; the default installs it.
"""

from pyinfra import host

from deploy.base import apt_setup, base, file_integrity
from deploy.common import secret_store
from deploy.guard import refuse_orphaned_tenants
from deploy.nginx import nginx
from deploy.postgres import postgresql
from deploy.synapse import synapse

plan = host.data.counselkit_plan
store = secret_store()
with_keycloak = plan.platform.artifacts.keycloak is not None
keycloak_with_archive = host.data.get("keycloak_with_archive", True) is not False
with_backup = all(store.has(plan.platform_secrets[name]) for name in ("backup_s3_access_key", "backup_s3_secret_key"))

refuse_orphaned_tenants()
apt_setup()
base()
postgresql()
if with_keycloak:
    from deploy import keycloak

    keycloak.install(plan=plan, secrets=store, with_archive=keycloak_with_archive)
    if keycloak_with_archive:
        keycloak.provision(plan=plan, secrets=store)
synapse()
if with_keycloak:
    keycloak.synapse_oidc(plan=plan, secrets=store)
nginx()
if with_backup:
    from deploy import backup

    backup.install(plan=plan, secrets=store)
file_integrity()  # last: the AIDE baseline should see the finished installation
