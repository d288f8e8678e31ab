"""`counselkit audit`: run the controls catalogue against an inventory's hosts, read-only, and write the reports."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from ..options import DEFAULT_TENANTS, TENANTS_ENV, tenants_option
from .catalogue import load_catalogue
from .report import summary_lines, write_reports
from .runner import audit
from .targets import TargetError, file_targets, lab_targets, local_target, production_targets


@click.command("audit")
@click.option("--inventory", "inventory", default="production", show_default=True,
              help="lab | production | local (this machine) | PATH to a pyinfra inventory file")
@tenants_option(help_text=f"The tenants.yaml the hosts were deployed from (default: ${TENANTS_ENV}, else {DEFAULT_TENANTS}).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("audit-report"),
              show_default=True, help="Directory for audit.html, audit-junit.xml and audit.json.")
@click.option("--host", "host", default=None, help="Audit only this host of the plan.")
@click.option("--control", "controls", multiple=True, help="Run only these control IDs (repeatable).")
@click.option("--ca-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="CA certificate to verify the tenants' TLS certificates against (tls: internal).")
@click.option("--secrets", "secrets_file", default=None,
              help="Secrets file (vault password from COUNSELKIT_VAULT_PASSWORD_FILE) to check backup repositories.")
def audit_command(inventory: str, tenants_file: Path, out_dir: Path, host: str | None, controls: tuple[str, ...],
                  ca_file: Path | None, secrets_file: str | None) -> None:
    """Audit the hosts of an inventory against the controls catalogue (read-only) and write the reports.

    Exits 1 when any control fails or could not be evaluated, 2 when the hosts could not be determined.
    """
    catalogue = load_catalogue()
    unknown = set(controls) - {c.id for c in catalogue.controls}
    if unknown:
        raise click.UsageError(f"unknown control(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="counselkit-audit-") as work:
        try:
            if inventory == "lab":
                plan, targets = lab_targets(tenants_file, Path(work), host)
            elif inventory == "production":
                plan, targets = production_targets(tenants_file, host)
            elif inventory == "local":
                plan, targets = local_target(tenants_file, host)
            elif Path(inventory).is_file():
                plan, targets = file_targets(Path(inventory), tenants_file, host)
            else:
                raise TargetError(f"--inventory {inventory}: not lab, production, local or an existing file")
        except TargetError as exc:
            click.echo(f"counselkit audit: {exc}", err=True)
            sys.exit(2)
        for target in targets:
            target.ca_file = ca_file
        secrets = None
        if secrets_file is not None:
            from counselkit.secrets import SecretStore

            secrets = SecretStore.open(tenants_file, secrets_file)
        run = audit(targets, plan, inventory, secrets=secrets, only_controls=set(controls) or None)
    paths = write_reports(run, out_dir)
    for line in summary_lines(run):
        click.echo(line)
    counts = run.counts()
    click.echo(f"{counts['pass']} passed, {counts['fail']} failed, {counts['na']} not applicable, "
               f"{counts['error']} not run — report: {paths['html']} (JUnit: {paths['junit']})")
    sys.exit(1 if run.failed else 0)
