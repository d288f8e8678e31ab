"""`counselkit billing ...`: run a period, issue a credit note, list and verify the ledger."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from ..options import tenants_option
from ..problems import InputError
from .ledger import Ledger, ledger_path
from .money import de
from .period import Period
from .validate import InvalidInvoice


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _guard(func):  # noqa: ANN001, ANN202 - decorator
    """Turn every expected failure into a clear message and exit 1; never a traceback."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            _fail(exc.summary())
        except InvalidInvoice as exc:
            _fail(f"{exc}\nNothing was written for this run and no number was used.")
        except (ValueError, OSError) as exc:
            _fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - BillingError and anything unexpected: message, not traceback
            _fail(f"{type(exc).__name__}: {exc}")

    return wrapper


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date; use YYYY-MM-DD") from None


FILE = tenants_option(aliases=("--file",))  # --file: the flag's older name
OUT = click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                   help="Output directory (default: invoices/ next to tenants.yaml); files go to <out>/<period>/.")
ISSUE = click.option("--issue-date", default=None, help="Invoice date YYYY-MM-DD for new documents (default: today).")
XSD_ONLY = click.option("--xsd-only", is_flag=True, help="Issue even though the official EN 16931/XRechnung rule "
                        "files are missing, checked against the XSD only (otherwise the run refuses).")


@click.group("billing")
def billing() -> None:
    """Invoices from tenants.yaml: SaaS prices or cost sharing, as PDF and XRechnung/ZUGFeRD."""


@billing.command("run")
@click.option("--period", required=True, help="Billing month, YYYY-MM.")
@FILE
@OUT
@ISSUE
@XSD_ONLY
@click.option("--allow-future", is_flag=True, help="Bill a period that is not over on the invoice date (in advance).")
@click.option("--usage", "usage_source", type=click.Choice(["auto", "backup-status", "none"]), default="auto",
              show_default=True, help="Storage usage: auto (measure when backups are set up; a failing bucket is an "
              "error), backup-status (must measure), none (bill no storage, knowingly).")
@click.option("--correct", is_flag=True, help="For each issued invoice tenants.yaml now contradicts: issue a "
              "Rechnungskorrektur cancelling it and a new invoice (the run lists them first without this flag).")
@_guard
def run_command(period: str, tenants_file: Path, out_dir: Path | None, issue_date: str | None, xsd_only: bool,
                allow_future: bool, usage_source: str, correct: bool) -> None:
    """Bill every tenant active in PERIOD; re-running reproduces the same invoices and numbers."""
    from .run import run_period
    from .validate import shared_validator

    if not tenants_file.exists():
        _fail(f"{tenants_file}: file not found")
    result = run_period(tenants_file, Period.parse(period), out_dir, _date(issue_date),
                        validator=shared_validator(xsd_only_allowed=xsd_only), allow_future=allow_future, usage_source=usage_source, correct=correct)
    click.echo(f"period {result.period}: {len(result.issued)} invoices in {result.out_dir}")
    click.echo(f"storage usage source: {result.usage_source}"
               + ("" if result.usage_source != "none" else
                  f" (not measured: {result.usage_note}; storage above quota billed as 0)"))
    for issued in result.issued:
        doc = issued.document
        state = ("correction" if doc.kind == "credit_note" else "new       ") if issued.new else "reproduced"
        click.echo(f"  {state} {doc.number}  {doc.buyer.slug:<28} net {de(doc.net_total):>12}  "
                   f"gross {de(doc.gross_total):>12} {doc.currency}  "
                   f"fatal {len(issued.report.fatal)} warnings {len(issued.report.warnings)}")
    click.echo(f"validated with: {', '.join(result.rule_sets)}")
    if result.summary_csv:
        click.echo(f"summary: {result.summary_csv}")


@billing.command("credit-note")
@click.argument("invoice_number")
@click.option("--reason", required=True, help="Why the invoice is corrected (printed on the credit note).")
@FILE
@OUT
@ISSUE
@XSD_ONLY
@_guard
def credit_note_command(invoice_number: str, reason: str, tenants_file: Path, out_dir: Path | None,
                        issue_date: str | None, xsd_only: bool) -> None:
    """Cancel INVOICE_NUMBER in full with a credit note referencing it; then `billing run` re-bills the period."""
    from .run import credit_note
    from .validate import shared_validator

    issued = credit_note(tenants_file, invoice_number, reason, out_dir, _date(issue_date),
                         validator=shared_validator(xsd_only_allowed=xsd_only))
    doc = issued.document
    verb = "issued" if issued.new else "already issued, reproduced"
    click.echo(f"credit note {doc.number} {verb}: corrects {doc.preceding_number}, {de(doc.gross_total)} {doc.currency}")
    click.echo(f"  {issued.pdf_file}\n  {issued.xml_file}")


@billing.command("ledger")
@FILE
@click.option("--pin", is_flag=True, help="After checking the ledger by hand: pin its current head in the archive "
              "(a ledger from before pinning, or a run interrupted between recording and pinning).")
@_guard
def ledger_command(tenants_file: Path, pin: bool) -> None:
    """List the ledger; verify its sequence, amounts, hash chain, pinned head and every archived original."""
    from ..load import load_inventory
    from .run import open_archive

    inventory = load_inventory(tenants_file)
    archive = open_archive(tenants_file, inventory)
    ledger = Ledger(ledger_path(tenants_file)).load()
    if pin and ledger.head_pin is not None:
        ledger.check_pins(archive.pins(), archive, allow_unpinned_tail=True)  # never hides truncation or rewrite
        if ledger.head_pin not in archive.pins():
            archive.pin(ledger.head_pin)
            click.echo(f"pinned head {ledger.head_pin.number} (record {ledger.head_pin.seq}) in {archive}")
    ledger.check_pins(archive.pins(), archive)
    cancelled = ledger.cancelled()
    for record in ledger.records:
        doc = record.document
        if record.pdf_sha256 is not None:
            archive.verify(record.period, f"{record.number}.xml", record.xml_sha256)
            archive.verify(record.period, f"{record.number}.pdf", record.pdf_sha256)
        note = f"corrects {record.status_of}" if record.status_of else ("cancelled" if record.number in cancelled else "")
        click.echo(f"{record.number}  {record.kind:<11} {doc.issue_date}  {record.period}  {record.slug:<28} "
                   f"{de(doc.gross_total):>12} {doc.currency}  {note}")
    click.echo(f"{len(ledger.records)} records: sequence, amounts, hash chain, pinned head and archived originals "
               f"intact ({ledger.path}, archive {archive})")
