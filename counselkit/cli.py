"""The `counselkit` command: validate, plan, prepare, schema, tenants, secrets — plus the lab and billing groups."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .options import tenants_option
from .plan import Plan, load_plan
from .problems import InputError

# The tenants file: positional (as before) or --tenants FILE or $COUNSELKIT_TENANTS (counselkit/options.py).
tenants_argument = tenants_option(positional=True)


# Command groups that live beside their subject, imported only when used (keeps `counselkit plan` fast).
LAZY_GROUPS = {
    "demo": "counselkit.demo:demo",
    "lab": "counselkit.lab.commands:lab",
    "billing": "counselkit.billing.commands:billing",
    "backup": "counselkit.backup.commands:backup",
    "access": "counselkit.access.commands:access",
    "counsellor": "counselkit.access.counsellors:counsellor",
    "webapp": "counselkit.webapp.build:webapp",
    "audit": "counselkit.audit.commands:audit_command",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *(name for name in LAZY_GROUPS if _importable(name))])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_GROUPS and _importable(name):
            module_name, attribute = LAZY_GROUPS[name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(LAZY_GROUPS[name].split(":")[0]) is not None
    except ModuleNotFoundError:  # its package is not there at all
        return False


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="counselkit")
def cli() -> None:
    """counselkit: one tenants.yaml to a hardened, billed counselling platform."""


@cli.command()
@tenants_argument
def validate(tenants_file: Path) -> None:
    """Check TENANTS_FILE and list every problem with file, line and field."""
    plan = load_plan(tenants_file)
    for warning in sorted(plan.warnings):  # on stderr, so the verdict on stdout keeps its format
        click.echo(str(warning), err=True)
    hosts = len(plan.hosts)
    click.echo(f"{tenants_file}: valid — {len(plan.tenants())} tenants on {hosts} host{'s' if hosts != 1 else ''}.")


@cli.command("plan")
@tenants_argument
@click.option("--json", "as_json", is_flag=True, help="Print the full plan as JSON for machines.")
def plan_command(tenants_file: Path, as_json: bool) -> None:
    """Show where every tenant runs: host, domain, loopback port, database, unit (reads only: new tenants are shown
    where they will go and are pinned by `counselkit prepare`)."""
    plan = load_plan(tenants_file)
    if as_json:  # each tenant's "new" says the same for machines
        click.echo(json.dumps(plan.to_vars(), indent=2, ensure_ascii=False))
    else:
        click.echo(plan_table(plan))
        _note_unpinned(tenants_file, plan)


def _note_unpinned(tenants_file: Path, plan: Plan) -> None:
    """On stderr (stdout keeps its format): placements that are a preview until `counselkit prepare` pins them."""
    from .lock import lock_path
    from .prepare import prepare_hint

    new = [t.slug for t in plan.tenants() if t.new]
    if new:
        click.echo(f"{lock_path(tenants_file)}: {', '.join(new)} not pinned yet (shown as new); "
                   f"{prepare_hint(tenants_file).replace(' first', ' before deploying')}", err=True)


@cli.command("prepare")
@tenants_argument
def prepare_command(tenants_file: Path) -> None:
    """Write what the deploys need next to TENANTS_FILE: pin new tenants in the lock file, complete the secrets
    file (generated secrets, internal-CA certificates) and write the pinned SSH known_hosts. Run it before either
    engine; a second run writes nothing. Inventories, `plan` and `audit` only read these files."""
    from .prepare import prepare

    for line in prepare(tenants_file).lines:
        click.echo(line)


def plan_table(plan: Plan) -> str:
    header = ("HOST", "TENANT", "DOMAIN", "PORT", "DATABASE", "UNIT", "STATE")
    rows = [header]
    for host in plan.hosts:
        for t in host.tenants:
            rows.append((host.name, t.slug, t.domain, str(t.synapse_port), t.db_name, t.unit, "new" if t.new else "pinned"))
        for r in host.removed:
            rows.append((host.name, r.slug, "-", str(r.port), "-", "-", "REMOVED (offboard first)"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    summary = ", ".join(f"{h.name} {len(h.tenants)}/{h.capacity}" for h in plan.hosts)
    return "\n".join(lines + ["", f"hosts (tenants/capacity): {summary}"])


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
def schema(output: Path | None) -> None:
    """Print the JSON schema of tenants.yaml (for editors: yaml-language-server)."""
    from .schema import schema_json

    text = schema_json()
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@cli.group()
def tenant() -> None:
    """Add counselling centres to tenants.yaml."""


@tenant.command("add")
@tenants_argument
@click.option("--slug", required=True, help="DNS label, becomes <slug>.<domain>; never changes later.")
@click.option("--name", required=True, help="Full name of the counselling centre.")
@click.option("--start", required=True, help="Contract start date, YYYY-MM-DD.")
@click.option("--end", help="Last day of the contract, YYYY-MM-DD (omit for open-ended).")
@click.option("--plan", "plan_name", default=None, help="Contract plan (default: the model's default plan).")
@click.option("--seats", required=True, type=int, help="Licensed counsellor accounts.")
@click.option("--admin", "admins", multiple=True, required=True, metavar="'NAME <EMAIL>'", help="Org admin; repeatable.")
@click.option("--street", required=True)
@click.option("--postcode", required=True)
@click.option("--city", required=True)
@click.option("--billing-email", required=True, help="Where invoices go.")
@click.option("--buyer-reference", help="Leitweg-ID or the buyer's order reference for e-invoices.")
@click.option("--cost-centre")
@click.option("--imprint-url", required=True)
@click.option("--privacy-url", required=True)
@click.option("--primary-color")
@click.option("--host", help="Place on this host (default: automatic by capacity).")
def tenant_add(tenants_file: Path, **options: object) -> None:
    """Append one tenant to TENANTS_FILE, keeping every comment and format; nothing is written when invalid."""
    from .tenant_add import add_tenant, entry_from_options

    entry = entry_from_options(options)
    try:
        add_tenant(tenants_file, entry)
    except InputError as exc:
        click.echo(exc.summary(), err=True)
        click.echo(f"Nothing was written to {tenants_file} (line numbers count the new entry as appended).", err=True)
        sys.exit(1)
    click.echo(f"added tenant '{entry['slug']}' to {tenants_file}; next: counselkit prepare --tenants {tenants_file}, then deploy")


@cli.group()
def secrets() -> None:
    """The encrypted secrets file (ansible-vault format); values are never printed."""


@secrets.command("ensure")
@tenants_argument
def secrets_ensure(tenants_file: Path) -> None:
    """Generate every missing secret for the plan; existing ones are never replaced."""
    from .secrets import SecretStore

    plan = load_plan(tenants_file)
    store = SecretStore.open(tenants_file)
    created = store.ensure(plan)
    if created:
        store.save()
    click.echo(f"{store.path}: {len(created)} secret{'s' if len(created) != 1 else ''} created, {len(store.refs()) - len(created)} kept.")


@secrets.command("set")
@click.argument("ref")
@tenants_option(aliases=("--file",))
@click.option("--force", is_flag=True, help="Replace a secret that is already set (e.g. a rotated provider key).")
def secrets_set(ref: str, tenants_file: Path, force: bool) -> None:
    """Store one secret REF (e.g. platform.backup_s3_access_key), its value read from standard input.

    Only references of this tenants.yaml are accepted (`counselkit secrets list`); a secret that is already set
    is replaced only with --force."""
    from .secrets import SecretStore

    plan = load_plan(tenants_file)
    store = SecretStore.open(tenants_file)
    value = sys.stdin.readline().rstrip("\r\n")
    replaced = store.set_known(plan, ref, value, force=force)
    store.save()
    click.echo(f"{store.path}: {'replaced' if replaced else 'stored'} {ref}")


@secrets.command("list")
@tenants_argument
def secrets_list(tenants_file: Path) -> None:
    """List secret names (never values), and which the plan still needs."""
    from .secrets import PROVIDED, SecretStore, known_secrets, wanted_secrets

    store = SecretStore.open(tenants_file)
    plan = load_plan(tenants_file)
    for ref in store.refs():
        click.echo(ref)
    for ref, _ in wanted_secrets(plan):
        if not store.has(ref):
            click.echo(f"{ref}  (missing: counselkit secrets ensure)")
    for ref, kind in known_secrets(plan).items():
        if kind == PROVIDED and not store.has(ref):
            click.echo(f"{ref}  (missing: from your provider, counselkit secrets set {ref})")


def _one_line_errors() -> tuple[type[Exception], ...]:
    from .hostkeys import UnpinnedHostError
    from .prepare import PlanUnavailable

    return (PlanUnavailable, UnpinnedHostError)


def main() -> None:
    """Entry point: every failure is a message and an exit status, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except InputError as exc:
        click.echo(exc.summary(), err=True)
        sys.exit(1)
    except _one_line_errors() as exc:  # a file is not prepared, a host key not pinned: the message says what to do
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 — the last line of defence against tracebacks
        if os.environ.get("COUNSELKIT_DEBUG"):
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
