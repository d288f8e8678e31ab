"""`counselkit demo`: lab up, `counselkit prepare`, deploy the example tenants.yaml with pyinfra, show what is running."""

from __future__ import annotations

import os
import secrets as random_source
import subprocess
import sys
from pathlib import Path

import click

from . import layout
from .ca import split_pem
from .options import tenants_option
from .plan import load_plan
from .secrets import PASSWORD_ENV, PASSWORD_FILE_ENV, SecretStore
from .status import collect, table

REPO = Path(__file__).resolve().parents[1]
DEMO_PASSWORD_FILE = REPO / ".vault-password"  # git-ignored; only used when no vault password is configured


def ensure_vault_password() -> None:
    """Use the operator's vault password if configured; otherwise make a local one for the demo."""
    if os.environ.get(PASSWORD_FILE_ENV) or os.environ.get(PASSWORD_ENV):
        return
    if not DEMO_PASSWORD_FILE.exists():
        DEMO_PASSWORD_FILE.touch(mode=0o600)
        DEMO_PASSWORD_FILE.write_text(random_source.token_urlsafe(32) + "\n")
    os.environ[PASSWORD_FILE_ENV] = str(DEMO_PASSWORD_FILE)


def prepare_secrets(tenants_file: Path, access_key: str, secret_key: str) -> None:
    """`counselkit prepare` (lock, generated secrets, certificates, known_hosts), then the lab's S3 credentials as
    the provider secrets: everything the deploy's read-only inventory checks for."""
    from .prepare import prepare

    for line in prepare(tenants_file).lines:
        click.echo(f"prepare: {line}")
    plan = load_plan(tenants_file)
    store = SecretStore.open(tenants_file)
    updated = []
    for name, value in (("backup_s3_access_key", access_key), ("backup_s3_secret_key", secret_key)):
        ref = plan.platform_secrets[name]
        if not store.has(ref) or store.get(ref) != value:
            store.set(ref, value)
            updated.append(ref)
    if updated:
        store.save()
    click.echo(f"secrets: {len(updated)} lab S3 credential{'s' if len(updated) != 1 else ''} stored in {store.path}")


def run_deploy(tenants_file: Path) -> None:
    """pyinfra onto the lab, its output streamed; prepare_secrets (counselkit prepare) has run before. The web
    app's bundle is built first (a no-op when build/webapp/ is current): the deploy copies it."""
    from .webapp.build import ensure_built

    click.echo("webapp: bundle " + ("built" if ensure_built() else "up to date"))
    pyinfra = Path(sys.executable).with_name("pyinfra")
    command = [str(pyinfra), "-y", "inventories/lab.py", "deploy/site.py"]
    click.echo("deploying: " + " ".join(command))
    env = {**os.environ, "COUNSELKIT_TENANTS": str(tenants_file)}
    result = subprocess.run(command, cwd=REPO, env=env)
    if result.returncode != 0:
        raise click.ClickException(f"the deploy failed (pyinfra exit {result.returncode}); see its output above")


def write_ca_certificate(directory: Path, ca_pem: str) -> Path:
    """The internal CA's certificate (public) where curl and browsers can be pointed at it."""
    path = directory / "internal-ca.pem"
    path.write_text(ca_pem)
    return path


@click.command()
@tenants_option(default=REPO / "tenants.yaml",
                help_text="The tenants file (default: $COUNSELKIT_TENANTS, else the example tenants.yaml).")
@click.option("--skip-deploy", is_flag=True, help="Only bring up the lab and show the status.")
def demo(tenants_file: Path, skip_deploy: bool) -> None:
    """Bring up the lab, deploy TENANTS to it and print each tenant's URL and status."""
    from .lab.lifecycle import lab_up
    from .lab.ssh import run
    from .lab.state import load_state
    from .site import lab_site

    plan = load_plan(tenants_file)
    running = load_state()
    hosts = max(len(plan.hosts), len(running.hosts) if running else 0)
    state = lab_up(hosts)
    ensure_vault_password()
    if state.s3 is None:
        raise click.ClickException("the lab has no S3 server; run `counselkit lab down` and try again")
    prepare_secrets(tenants_file, state.s3.access_key, state.s3.secret_key)
    if not skip_deploy:
        run_deploy(tenants_file)
    plan = load_plan(tenants_file, site=lab_site(state))
    store = SecretStore.open(tenants_file)
    ca_pem = split_pem(store.get(plan.platform_secrets["internal_ca"]))[1].decode() if plan.platform.tls == "internal" else None

    def run_on(host: str, command: str) -> tuple[int, str]:
        result = run(state.host(host), command, timeout=60)
        return result.returncode, result.stdout

    rows = collect(plan, run_on, lambda name: plan.host(name).address, ca_pem)
    click.echo("")
    click.echo(table(rows))
    click.echo("")
    if rows:
        first = plan.tenant(rows[0].slug)
        ca_hint = "--cacert " + str(write_ca_certificate(state.state_dir, ca_pem)) + " " if ca_pem else ""
        click.echo("The lab's hosts answer from this machine only (their names resolve nowhere else). Try:")
        resolve = f"curl {ca_hint}--resolve {first.domain}:443:{plan.host(first.host).address}"
        click.echo(f"  {resolve} {first.url}_matrix/client/versions")
        click.echo(f"  {resolve} {first.url}{layout.COUNSELLING_PATH.lstrip('/')}v1/centre  # the counselling API (docs/counselling.md)")
        address = plan.host(first.host).address
        click.echo("The web app (docs/webapp.md), in a browser on this machine — the lab's name mapped to its host,")
        click.echo("the lab's internal CA accepted for this browser only; a counsellor account first, to answer in a")
        click.echo("second browser profile (log in under 'Anmeldung für Beraterinnen und Berater'):")
        click.echo(f"  counselkit counsellor add --tenants {tenants_file} {first.slug} USERNAME   # password on stdin")
        click.echo(f"  chromium --user-data-dir=$(mktemp -d) --host-resolver-rules='MAP {first.domain} {address}' "
                   f"--ignore-certificate-errors {first.url}")
        click.echo(f"Open: {first.url}")
    if not all(row.healthy for row in rows):
        raise click.ClickException("not every tenant is healthy (see the table above)")
