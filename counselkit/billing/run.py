"""`billing run` and `billing credit-note`: compute, number, validate, render and record, in that order.

Nothing is written as final before every e-invoice of the run passed validation, and the ledger is appended
only after the files are in place; the whole run holds the ledger lock, so concurrent runs cannot issue the
same number twice.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Iterator

from ..load import load_inventory
from ..plan import load_plan
from ..problems import InputError
from ..yamlsource import read_yaml
from .archive import ArchiveError, LocalArchive, S3Archive, sha256
from .cii import render_cii
from .compute import TenantBillingError, compute_documents
from .document import Document
from .ledger import Ledger, Record, ledger_path, locked, number_for
from .money import de
from .pdf import embed_xml, render_pdf
from .period import Period
from .usage import StorageUsage, storage_usage
from .validate import Report, Validator, shared_validator


class BillingError(Exception):
    """A billing problem that is not bad input: reported as a message, exit code non-zero."""


@dataclass
class Issued:
    document: Document
    new: bool  # False: reproduced from the ledger
    xml_file: Path
    pdf_file: Path
    report: Report


@dataclass
class RunResult:
    period: str
    out_dir: Path
    issued: list[Issued] = field(default_factory=list)
    summary_csv: Path | None = None
    rule_sets: list[str] = field(default_factory=list)
    usage_source: str = "none"
    usage_note: str = ""  # why storage was not measured, when it was not


def _prechecks(tenants_file: Path) -> None:
    inventory = load_inventory(tenants_file)
    if not inventory.platform.operator.contact.phone:
        doc = read_yaml(tenants_file)
        raise InputError([doc.problem(("platform", "operator", "contact"), "an XRechnung needs the seller contact's "
                                      "phone (BR-DE-6); add phone: \"+49 ...\"")])


def _compute(tenants_file: Path, inventory, plan, period: Period, usage, issue_date: date) -> list[Document]:  # noqa: ANN001
    """compute_documents, with a tenant's problem reported at the tenant's billing section of tenants.yaml."""
    try:
        return compute_documents(inventory, plan, period, usage, issue_date)
    except TenantBillingError as exc:
        index = next(i for i, t in enumerate(inventory.tenants) if t.slug == exc.slug)
        raise InputError([read_yaml(tenants_file).problem(("tenants", index, "billing"), str(exc))]) from None


Archive = LocalArchive | S3Archive


def open_archive(tenants_file: Path, inventory) -> Archive:  # noqa: ANN001
    """The configured archive: a local directory, or the platform's S3 bucket under object lock."""
    settings = inventory.platform.pricing.archive
    if settings.store == "s3":
        from ..backup.s3 import client
        from ..backup.status import _secret_source
        from ..secrets import SecretStore

        plan = load_plan(tenants_file)
        credentials, _ = _secret_source(plan, SecretStore.open(tenants_file, plan.platform.secrets_file))
        backup = inventory.platform.backup
        return S3Archive(client(backup, credentials), backup.bucket, settings.retention_years)
    root = Path(settings.path)
    return LocalArchive(root if root.is_absolute() else tenants_file.parent / root)


@contextmanager
def books(tenants_file: Path, inventory) -> Iterator[tuple[Ledger, Archive]]:  # noqa: ANN001
    """The ledger, locked and verified, with its pinned head checked against the archive."""
    archive = open_archive(tenants_file, inventory)
    with locked(ledger_path(tenants_file)) as ledger:
        try:
            ledger.check_pins(archive.pins(), archive)
        except ArchiveError as exc:
            raise BillingError(f"{exc}. Nothing was issued.") from None
        yield ledger, archive


def _with_recorded_usage(ledger: Ledger, period: Period, drafts: list[Document], compute) -> list[Document]:  # noqa: ANN001
    """Drafts of already-invoiced tenants computed with the storage usage their invoice recorded.

    Usage is measured when the run happens; once billed, the figure is part of the invoice. A re-run must
    compare today's tenants.yaml with the invoice, not with today's bucket size."""
    recorded = {}
    for draft in drafts:
        record = ledger.current_invoice(str(period), draft.buyer.slug)
        if record is not None and record.document.mode == "saas":
            recorded[draft.buyer.slug] = record.document
    if not recorded:
        return drafts
    measured = {slug for slug, doc in recorded.items() if doc.storage_measured}
    sizes: dict[str, int] = {}
    for slug in measured:  # a consolidated invoice recorded each centre's figure
        doc = recorded[slug]
        sizes.update({k: v for k, v in (doc.centres or ((slug, doc.storage_bytes),)) if v is not None})
    groups = [(StorageUsage("backup-status", sizes), measured),
              (StorageUsage("none", why_not="not measured when invoiced"), set(recorded) - measured)]
    replaced = {}
    for usage, slugs in groups:
        if slugs:
            replaced.update({d.buyer.slug: d for d in compute(usage) if d.buyer.slug in slugs})
    return [replaced.get(d.buyer.slug, d) for d in drafts]


def check_dates(ledger: Ledger, day: date, what: str) -> None:
    """New documents never go back in time: not before the last recorded issue date."""
    if ledger.records and day < ledger.records[-1].document.issue_date:
        last = ledger.records[-1]
        raise BillingError(f"{what} dated {day:%Y-%m-%d} would be before {last.number} of "
                           f"{last.document.issue_date:%Y-%m-%d}; issue dates follow the number sequence, so use "
                           f"--issue-date {last.document.issue_date:%Y-%m-%d} or later")


def check_period_over(period: Period, day: date, allow_future: bool) -> None:
    if period.last >= day and not allow_future:
        raise BillingError(f"period {period} is not over on the invoice date {day:%Y-%m-%d} (it ends "
                           f"{period.last:%Y-%m-%d}); billing it now would invoice service not yet rendered. Pass "
                           f"--allow-future to bill in advance knowingly.")


def run_period(tenants_file: Path | str, period: Period, out_dir: Path | None = None, issue_date: date | None = None,
               validator: Validator | None = None, usage_source: str = "auto", allow_future: bool = False,
               correct: bool = False) -> RunResult:
    """Bill `period`. With `correct`, an issued invoice that tenants.yaml now contradicts is cancelled by a
    Rechnungskorrektur and replaced by a new invoice in the same run (otherwise the run refuses and says so)."""
    tenants_file = Path(tenants_file)
    inventory = load_inventory(tenants_file)
    _prechecks(tenants_file)
    plan = load_plan(tenants_file)
    usage = storage_usage(plan, usage_source, tenants_file)
    validator = validator or shared_validator()
    validator.require_rules()
    out_dir = (out_dir or tenants_file.parent / "invoices") / str(period)
    prefix = inventory.platform.pricing.invoice_prefix
    with books(tenants_file, inventory) as (ledger, archive):
        day = issue_date or date.today()
        drafts = _with_recorded_usage(ledger, period, _compute(tenants_file, inventory, plan, period, usage, day),
                                      lambda u: _compute(tenants_file, inventory, plan, period, u, day))
        # document, its record when already issued, the invoice it cancels (credit notes of --correct)
        planned: list[tuple[Document, Record | None, str | None]] = []
        conflicts = []
        seq = ledger.next_seq()
        for draft in drafts:
            record = ledger.current_invoice(str(period), draft.buyer.slug)
            if record is not None and record.document.content_key() == draft.content_key():
                planned.append((record.document, record, None))
                continue
            if record is not None:
                conflicts.append(f"  {record.number} ({draft.buyer.slug}): {_difference(record.document, draft)}")
                if not correct:
                    continue
                note_number, seq = number_for(prefix, seq), seq + 1
                planned.append((_cancellation(record, note_number, day, f"Rechnungsdaten geändert; ersetzt durch "
                                              f"Rechnung {number_for(prefix, seq)}"), None, record.number))
            planned.append((draft.numbered(number_for(prefix, seq), draft.issue_date, draft.due_date), None, None))
            seq += 1
        if conflicts and not correct:
            raise BillingError(f"period {period}: tenants.yaml no longer matches issued invoices:\n" + "\n".join(conflicts)
                               + "\nRun again with --correct to issue a Rechnungskorrektur and a new invoice for each, "
                               "or correct one with `counselkit billing credit-note NUMBER --reason ...`.")
        if any(record is None for _, record, _ in planned):  # dates matter only for what is issued now
            check_period_over(period, day, allow_future)
            check_dates(ledger, day, "an invoice")
        result = RunResult(str(period), out_dir, rule_sets=validator.rule_sets, usage_source=usage.source,
                           usage_note=usage.why_not)
        done: dict[str, tuple[Document, bool, bytes, bytes, Report]] = {}
        for doc, record, _ in planned:  # verify every reproduced original before anything new is recorded
            if record is not None:
                done[doc.number] = (doc, False, *_original(archive, record, validator))
        for doc, record, _ in planned:
            if record is None:
                xml = render_cii(doc)
                report = validator.check(doc.number, xml)
                done[doc.number] = (doc, True, xml, embed_xml(render_pdf(doc), xml, doc), report)
        originals = [done[doc.number] for doc, _, _ in planned]  # in slug order, as computed
        cancels = {doc.number: cancelled for doc, _, cancelled in planned}
        new = [(doc, sha256(xml), sha256(pdf), cancels[doc.number]) for doc, is_new, xml, pdf, _ in originals if is_new]
        _record(ledger, archive, new)
        for doc, is_new, xml, pdf, report in originals:
            if is_new:
                _archive_pair(archive, doc, xml, pdf)
            xml_file, pdf_file = _publish(out_dir, doc, xml, pdf)
            result.issued.append(Issued(doc, is_new, xml_file, pdf_file, report))
        period_docs = [r.document for r in ledger.records if r.period == str(period)]
        result.summary_csv = _write_atomic(out_dir / f"summary-{period}.csv", summary_csv(period_docs, usage.source))
    return result


def credit_note(tenants_file: Path | str, number: str, reason: str, out_dir: Path | None = None,
                issue_date: date | None = None, validator: Validator | None = None) -> Issued:
    """Cancel invoice `number` in full with a credit note (Rechnungskorrektur) that references it."""
    tenants_file = Path(tenants_file)
    inventory = load_inventory(tenants_file)
    if not reason.strip():
        raise BillingError("a credit note needs a reason (--reason)")
    validator = validator or shared_validator()
    validator.require_rules()
    with books(tenants_file, inventory) as (ledger, archive):
        original = ledger.find(number)
        if original is None:
            raise BillingError(f"{number} is not in the ledger {ledger.path}")
        if original.kind != "invoice":
            raise BillingError(f"{number} is a credit note; only invoices can be corrected")
        existing = next((r for r in ledger.records if r.status_of == number), None)
        target = (out_dir or tenants_file.parent / "invoices") / original.period
        if existing is not None:  # already corrected: verify and reproduce, issue nothing new
            xml, pdf, report = _original(archive, existing, validator)
            xml_file, pdf_file = _publish(target, existing.document, xml, pdf)
            return Issued(existing.document, False, xml_file, pdf_file, report)
        day = issue_date or date.today()
        if day < original.document.issue_date:
            raise BillingError(f"a credit note dated {day:%Y-%m-%d} would be before the invoice {number} it corrects "
                               f"({original.document.issue_date:%Y-%m-%d})")
        check_dates(ledger, day, "a credit note")
        seq_number = number_for(inventory.platform.pricing.invoice_prefix, ledger.next_seq())
        doc = _cancellation(original, seq_number, day, reason.strip())
        xml = render_cii(doc)
        report = validator.check(doc.number, xml)
        pdf = embed_xml(render_pdf(doc), xml, doc)
        _record(ledger, archive, [(doc, sha256(xml), sha256(pdf), original.number)])
        _archive_pair(archive, doc, xml, pdf)
        xml_file, pdf_file = _publish(target, doc, xml, pdf)
        period_docs = [r.document for r in ledger.records if r.period == original.period]
        _write_atomic(target / f"summary-{original.period}.csv", summary_csv(period_docs, "see invoices"))
        return Issued(doc, True, xml_file, pdf_file, report)


def _cancellation(original: Record, number: str, day: date, reason: str) -> Document:
    """A Rechnungskorrektur cancelling `original` in full, referencing its number and date."""
    return replace(original.document, kind="credit_note", number=number, issue_date=day, due_date=day,
                   preceding_number=original.number, preceding_date=original.document.issue_date,
                   correction_reason=reason)


def _difference(issued: Document, now: Document) -> str:
    """What changed, in a line the operator can check before correcting."""
    if issued.gross_total != now.gross_total:
        return (f"issued for {de(issued.gross_total)} {issued.currency} gross, tenants.yaml now gives "
                f"{de(now.gross_total)} {now.currency}")
    return "issued with other data (amounts unchanged: buyer, tax or line details differ)"


def _record(ledger: Ledger, archive: Archive, entries: list[tuple[Document, str, str, str | None]]) -> None:
    """Append to the ledger and pin the new head in the archive right away (the window between is tiny; an
    interruption there is reported by the next run and resolved with `billing ledger --pin`)."""
    if entries:
        ledger.append(entries)
        archive.pin(ledger.head_pin)


def _archive_pair(archive: Archive, doc: Document, xml: bytes, pdf: bytes) -> None:
    archive.put(doc.period, f"{doc.number}.xml", xml, doc.issue_date)
    archive.put(doc.period, f"{doc.number}.pdf", pdf, doc.issue_date)


def _original(archive: Archive, record: Record, validator: Validator) -> tuple[bytes, bytes, Report]:
    """The issued XML and PDF of a record, verified against the archive and the ledger's SHA-256.

    An original missing from the archive (a run interrupted after recording, or a deleted file) is restored
    only if rendering the recorded document gives byte-identical files (rendering is deterministic);
    anything else is an error: the original is never replaced by different bytes."""
    names = (f"{record.number}.xml", f"{record.number}.pdf")
    if record.pdf_sha256 is None:  # ledger version 1: no archived PDF yet; check the XML against its hash
        xml = render_cii(record.document)
        if sha256(xml) != record.xml_sha256:
            raise BillingError(f"{record.number}: the re-rendered XML differs from the issued one; refusing to "
                               f"overwrite")
        return xml, embed_xml(render_pdf(record.document), xml, record.document), validator.validate(xml)
    expected = (record.xml_sha256, record.pdf_sha256)
    data = []
    for name, sha in zip(names, expected):
        if not archive.has(record.period, name):
            xml = render_cii(record.document)
            candidate = xml if name.endswith(".xml") else embed_xml(render_pdf(record.document), xml, record.document)
            if sha256(candidate) != sha:
                raise ArchiveError(f"archived original {archive.document_path(record.period, name)} is missing and "
                                   f"cannot be reproduced byte for byte; restore it from backup")
            archive.put(record.period, name, candidate, record.document.issue_date)
        data.append(archive.verify(record.period, name, sha))
    return data[0], data[1], validator.validate(data[0])


def _publish(out_dir: Path, doc: Document, xml: bytes, pdf: bytes) -> tuple[Path, Path]:
    """Working copies of the originals in the output directory: written when absent, never overwritten."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in ((f"{doc.number}.xml", xml), (f"{doc.number}.pdf", pdf)):
        path = out_dir / name
        if path.exists():
            if sha256(path.read_bytes()) != sha256(data):
                raise BillingError(f"{path} differs from the archived original of {doc.number}; it is not the "
                                   f"document that was issued. Remove it to get a copy of the original.")
        else:
            _write_atomic(path, data, mode=0o444)
        paths.append(path)
    return paths[0], paths[1]


def _write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return path


CSV_COLUMNS = ["number", "kind", "issue_date", "due_date", "period", "service_start", "service_end", "customer_slug",
               "customer", "buyer_reference", "cost_centre", "net", "vat_category", "vat_rate", "vat", "gross",
               "currency", "sign", "corrects", "storage_usage", "exemption_reason"]


def summary_csv(documents: list[Document], usage_source: str) -> str:
    """Accounting summary: one row per document, amounts with '.' decimals; sign -1 for credit notes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for doc in sorted(documents, key=lambda d: d.number):
        writer.writerow([
            doc.number, doc.kind, doc.issue_date.isoformat(), doc.due_date.isoformat(), doc.period,
            doc.service_start.isoformat(), doc.service_end.isoformat(), doc.buyer.slug, doc.buyer.name,
            doc.buyer_reference, doc.buyer.cost_centre or "", doc.net_total, doc.vat_category, doc.vat_rate,
            doc.vat_total, doc.gross_total, doc.currency, "-1" if doc.kind == "credit_note" else "1",
            doc.preceding_number or "",
            ("measured" if doc.storage_measured else "not measured") if doc.mode == "saas" else "n/a (cost sharing)",
            doc.vat_exemption_reason or "",
        ])
    return buffer.getvalue()
