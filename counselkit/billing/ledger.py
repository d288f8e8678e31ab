"""The append-only invoice ledger next to tenants.yaml (tenants.ledger.jsonl).

One JSON object per line and document, in number order. Each record carries its sequence number, the full
document (so any invoice can be reproduced or corrected later) and a SHA-256 chain over all previous records:
editing, deleting or reordering a line breaks the chain and every command refuses to go on. Numbers are
`<invoice_prefix>-<seq:06d>`: one sequence for invoices and credit notes, never reused, never skipped.
The file is only ever opened for appending; writers hold an exclusive lock (fcntl) on `<ledger>.lock`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..problems import InputError, Problem
from .archive import Pin
from .document import Document
from .money import ZERO, cents

GENESIS = "0" * 64
VERSION = 2  # 2: records carry pdf_sha256 (version 1 records are read, with pdf_sha256 None)


def ledger_path(tenants_file: Path) -> Path:
    return tenants_file.with_name(tenants_file.stem + ".ledger.jsonl")


@dataclass(frozen=True)
class Record:
    seq: int
    number: str
    kind: str
    period: str
    slug: str
    status_of: str | None  # for a credit note: the number it cancels
    document: Document
    xml_sha256: str
    prev: str
    hash: str
    pdf_sha256: str | None = None


class LedgerError(InputError):
    pass


def _problem(path: Path, line: int, message: str) -> LedgerError:
    return LedgerError([Problem(str(path), line, 0, "", message)])


def _digest(prev: str, body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + "\n" + text).encode("utf-8")).hexdigest()


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[Record] = []

    # --- reading and checking -------------------------------------------------------------------------
    def load(self) -> "Ledger":
        """Read and verify the whole file; raise LedgerError naming the first bad line."""
        self.records = []
        if not self.path.exists():
            return self
        prev = GENESIS
        with self.path.open("r", encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.endswith("\n"):
                    raise _problem(self.path, line_no, "the last record is incomplete (interrupted write?); "
                                   "restore the ledger from backup")
                try:
                    raw = json.loads(line)
                    body = {k: v for k, v in raw.items() if k != "hash"}
                    record = Record(seq=int(raw["seq"]), number=str(raw["number"]), kind=str(raw["kind"]),
                                    period=str(raw["period"]), slug=str(raw["slug"]), status_of=raw.get("cancels"),
                                    document=Document.from_json(raw["document"]), xml_sha256=str(raw["xml_sha256"]),
                                    prev=str(raw["prev"]), hash=str(raw["hash"]), pdf_sha256=raw.get("pdf_sha256"))
                except (ValueError, KeyError, TypeError) as exc:
                    raise _problem(self.path, line_no, f"unreadable or inconsistent ledger record ({exc}); "
                                   "the ledger has been tampered with") from None
                expected_seq = len(self.records) + 1
                if record.seq != expected_seq:
                    raise _problem(self.path, line_no, f"sequence gap or reorder: found {record.seq}, expected "
                                   f"{expected_seq}; the ledger has been tampered with")
                if record.prev != prev or _digest(prev, body) != record.hash:
                    raise _problem(self.path, line_no, f"hash chain broken at record {record.seq} "
                                   f"({record.number}); the ledger has been modified")
                if record.number != record.document.number:
                    raise _problem(self.path, line_no, "record number and document number differ")
                problem = _amounts_problem(record.document) or self._order_problem(record)
                if problem:
                    raise _problem(self.path, line_no, f"record {record.seq} ({record.number}): {problem}; the "
                                   "ledger has been tampered with")
                self.records.append(record)
                prev = record.hash
        numbers = [r.number for r in self.records]
        if len(set(numbers)) != len(numbers):
            raise _problem(self.path, 0, "an invoice number occurs twice")
        return self

    def _order_problem(self, record: Record) -> str | None:
        """Number matches the sequence, dates never go backwards, a credit note follows its invoice."""
        if not record.number.endswith(f"-{record.seq:06d}"):
            return f"number {record.number} is not record {record.seq} of the sequence (reordered?)"
        if self.records and record.document.issue_date < self.records[-1].document.issue_date:
            return (f"issue date {record.document.issue_date} is before {self.records[-1].document.issue_date} of "
                    f"{self.records[-1].number} (reordered?)")
        if record.kind == "credit_note":
            original = self.find(record.status_of or "")
            if original is None or original.kind != "invoice":
                return f"corrects {record.status_of}, which is no earlier invoice"
            if record.document.issue_date < original.document.issue_date:
                return f"credit note dated before the invoice {original.number} it corrects"
        return None

    def check_pins(self, pins: list[Pin], archive: object, allow_unpinned_tail: bool = False) -> None:
        """Each head pinned in the archive must match the record at its sequence, and the last pin the head.

        Detects a truncated or deleted ledger (fewer records than pinned), a rewritten one (a recomputed chain
        has other hashes) and records appended outside a run (not pinned)."""
        where = f"the archive {archive} pins"
        if not pins:
            if self.records and not allow_unpinned_tail:
                raise _problem(self.path, 0, f"the ledger has {len(self.records)} records but {where} no head "
                               f"(archive lost, or a ledger from before pinning); check the ledger, then pin its "
                               f"head with `counselkit billing ledger --pin`. Nothing was issued.")
            return
        last = pins[-1]
        if not self.records:
            raise _problem(self.path, 0, f"the ledger is missing or empty but {where} head {last.number} (record "
                           f"{last.seq}): the ledger was deleted; restore it from backup. Nothing was issued.")
        for pin in pins:
            if pin.seq > len(self.records):
                raise _problem(self.path, 0, f"the ledger ends at record {len(self.records)} "
                               f"({self.records[-1].number}) but {where} record {pin.seq} ({pin.number}): the "
                               f"ledger was truncated; restore it from backup. Nothing was issued.")
            record = self.records[pin.seq - 1]
            if record.hash != pin.hash or record.number != pin.number:
                raise _problem(self.path, pin.seq, f"record {pin.seq} ({record.number}) does not match the head "
                               f"{where} ({pin.number}, hash {pin.hash[:12]}…): the ledger was rewritten (forged or "
                               f"recomputed hash chain). Nothing was issued.")
        if len(self.records) > last.seq and not allow_unpinned_tail:
            raise _problem(self.path, last.seq + 1, f"records {last.seq + 1}..{len(self.records)} follow the head "
                           f"{where} ({last.number}): appended outside a run, or a run was interrupted; check them, "
                           f"then `counselkit billing ledger --pin`. Nothing was issued.")

    @property
    def head_pin(self) -> Pin | None:
        return Pin(self.records[-1].seq, self.records[-1].number, self.records[-1].hash) if self.records else None

    @property
    def head(self) -> str:
        return self.records[-1].hash if self.records else GENESIS

    def next_seq(self) -> int:
        return len(self.records) + 1

    def find(self, number: str) -> Record | None:
        return next((r for r in self.records if r.number == number), None)

    def cancelled(self) -> set[str]:
        return {r.status_of for r in self.records if r.kind == "credit_note" and r.status_of}

    def current_invoice(self, period: str, slug: str) -> Record | None:
        """The valid (not credited) invoice of a tenant for a period, if issued."""
        cancelled = self.cancelled()
        matches = [r for r in self.records if r.kind == "invoice" and r.period == period and r.slug == slug
                   and r.number not in cancelled]
        return matches[-1] if matches else None

    # --- writing --------------------------------------------------------------------------------------
    def append(self, documents: list[tuple[Document, str, str, str | None]]) -> list[Record]:
        """Append (document, xml_sha256, pdf_sha256, cancels) records, fsync'd. The caller holds the lock."""
        new = []
        prev = self.head
        lines = []
        for offset, (doc, xml_sha, pdf_sha, cancels) in enumerate(documents):
            seq = self.next_seq() + offset
            body = {"v": VERSION, "seq": seq, "number": doc.number, "kind": doc.kind, "period": doc.period,
                    "slug": doc.buyer.slug, "cancels": cancels, "document": doc.to_json(), "xml_sha256": xml_sha,
                    "pdf_sha256": pdf_sha, "prev": prev}
            digest = _digest(prev, body)
            lines.append(json.dumps({**body, "hash": digest}, sort_keys=True, ensure_ascii=False) + "\n")
            new.append(Record(seq, doc.number, doc.kind, doc.period, doc.buyer.slug, cancels, doc, xml_sha, prev, digest,
                              pdf_sha))
            prev = digest
        if not lines:
            return []
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, "".join(lines).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records.extend(new)
        return new


def _amounts_problem(doc: Document) -> str | None:
    """Re-check the figures of a loaded document: lines sum to net, VAT from net and rate, net + VAT = gross."""
    lines = sum((line.net for line in doc.lines), ZERO)
    if lines != doc.net_total:
        return f"lines add up to {lines}, net total says {doc.net_total}"
    if doc.vat_total != cents(doc.net_total * doc.vat_rate / 100):
        return f"VAT {doc.vat_total} is not {doc.vat_rate} % of {doc.net_total}"
    if doc.net_total + doc.vat_total != doc.gross_total:
        return f"net {doc.net_total} + VAT {doc.vat_total} is not gross {doc.gross_total}"
    if (doc.vat_category == "S") != (doc.vat_rate > 0):
        return f"VAT category {doc.vat_category} with rate {doc.vat_rate} %"
    return None


def number_for(prefix: str, seq: int) -> str:
    return f"{prefix}-{seq:06d}"


@contextmanager
def locked(path: Path) -> Iterator[Ledger]:
    """Hold the ledger's exclusive lock, and give the verified ledger read under it."""
    lock_file = path.with_name(path.name + ".lock")
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield Ledger(path).load()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
