"""`counselkit prepare`: the one step that writes the files derived from tenants.yaml, before either engine runs.

It pins new tenants in tenants.lock.json, completes the secrets file (missing secrets generated, internal-CA
certificates issued or renewed) and writes the pinned SSH known_hosts file. Everything else — both engines'
inventories, `counselkit plan`, `counselkit audit` — only reads, and refuses with `NotPrepared` (one line: the file,
what is missing, and the command to run) when one of these files is not complete and current. An unchanged file is
never rewritten, so a second prepare writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .hostkeys import UnpinnedHostError, known_hosts_path, known_hosts_text, write_known_hosts
from .lock import lock_path
from .plan import Plan, load_plan
from .site import SiteOverrides

if TYPE_CHECKING:  # secrets imports Ansible lazily; only its type is needed here
    from .secrets import SecretStore


class PlanUnavailable(Exception):
    """The plan cannot be used as it stands (tenants.yaml problems, a host key not pinned, the secrets file
    unreadable, or a derived file not prepared); the message says what to do, no traceback needed."""


class NotPrepared(PlanUnavailable):
    """A derived file is missing or out of date; the message is one line for the operator."""


def prepare_hint(tenants_file: Path | str) -> str:
    return f"run `counselkit prepare --tenants {tenants_file}` first"


@dataclass
class Prepared:
    """What one prepare run wrote (empty lists / False: nothing) and the lines it reports."""

    lock_pinned: list[str] = field(default_factory=list)
    secrets_created: list[str] = field(default_factory=list)
    known_hosts_written: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.lock_pinned or self.secrets_created or self.known_hosts_written)


def prepare(tenants_file: Path) -> Prepared:
    """Write what is missing or out of date: lock, secrets (with certificates), known_hosts. Validation comes first:
    a tenants.yaml with problems raises InputError before any file is touched."""
    path = Path(tenants_file)
    result = Prepared()
    from .secrets import SecretStore

    plan = load_plan(path)  # read-only first: every problem is reported before anything is written
    store = SecretStore.open(path)  # a wrong or missing vault password also stops before the lock is written
    result.lock_pinned = _pin(path, plan)
    lock_file = lock_path(path)
    result.lines.append(f"{lock_file}: pinned {', '.join(result.lock_pinned)}" if result.lock_pinned
                        else f"{lock_file}: up to date")
    result.secrets_created = _complete_secrets(store, plan, result.lines)
    result.known_hosts_written = _known_hosts(path, plan, result.lines)
    result.lines.append("prepared: files written as listed" if result.changed
                        else "nothing to write: lock, secrets and known_hosts are current")
    return result


def _pin(path: Path, plan: Plan) -> list[str]:
    new = [t.slug for t in plan.tenants() if t.new]
    if new or not lock_path(path).exists():
        load_plan(path, update_lock=True)
    return new


def _complete_secrets(store: SecretStore, plan: Plan, lines: list[str]) -> list[str]:
    from .tls import ensure_certificates

    created = list(store.ensure(plan))
    certificates = ensure_certificates(store, plan)
    if created or certificates:
        store.save()
        lines.append(f"{store.path}: {len(created)} secret{'s' if len(created) != 1 else ''} generated, "
                     f"{len(certificates)} certificate{'s' if len(certificates) != 1 else ''} issued")
    else:
        lines.append(f"{store.path}: complete")
    return created + certificates


def _known_hosts(path: Path, plan: Plan, lines: list[str]) -> bool:
    target = known_hosts_path(path)
    try:
        written = write_known_hosts(plan, path)
    except UnpinnedHostError:  # fine for the lab (its own known_hosts); the production inventories refuse
        lines.append(f"{target}: not written, not every host pins host_keys (production inventories refuse such hosts)")
        return False
    lines.append(f"{target}: {'written' if written else 'up to date'}")
    return written


def require_prepared(tenants_file: Path | str, plan: Plan, secrets: bool = True, known_hosts: bool = False) -> None:
    """Raise NotPrepared unless the lock pins every tenant, the secrets file holds every generated secret and current
    certificate (`secrets`), and the known_hosts file matches tenants.yaml's pinned keys (`known_hosts`; raises
    UnpinnedHostError when a host pins none). Reads only."""
    path = Path(tenants_file)
    # An unpinned host is a gap in tenants.yaml that prepare cannot fill: named before anything prepare would fix.
    expected_known_hosts = known_hosts_text(plan, path) if known_hosts else None
    new = [t.slug for t in plan.tenants() if t.new]
    if new:
        raise NotPrepared(f"{lock_path(path)}: tenant{'s' if len(new) != 1 else ''} {', '.join(new)} not pinned yet; "
                          f"{prepare_hint(path)}")
    if secrets:
        _require_secrets(path, plan)
    if expected_known_hosts is not None:
        target = known_hosts_path(path)
        if not target.exists():
            raise NotPrepared(f"{target}: missing; {prepare_hint(path)}")
        if target.read_text(encoding="utf-8") != expected_known_hosts:
            raise NotPrepared(f"{target}: does not match the host keys pinned in {path}; {prepare_hint(path)}")


def _require_secrets(path: Path, plan: Plan) -> None:
    from .secrets import SecretStore, wanted_secrets
    from .tls import due_certificates

    store = SecretStore.open(path)
    missing = [ref for ref, _ in wanted_secrets(plan) if not store.has(ref)]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise NotPrepared(f"{store.path}: secret{'s' if len(missing) != 1 else ''} {shown} missing; {prepare_hint(path)}")
    due = due_certificates(store, plan)
    if due:
        raise NotPrepared(f"{store.path}: certificate{'s' if len(due) != 1 else ''} {', '.join(due)} missing or due "
                          f"for renewal; {prepare_hint(path)}")


def prepared_plan(tenants_file: Path | str, site: SiteOverrides | None = None, secrets: bool = True,
                  known_hosts: bool = False) -> Plan:
    """What an inventory (either engine) or the audit loads: the plan, read only, after require_prepared. Every
    expected failure comes out as PlanUnavailable with the message the operator needs."""
    from .problems import InputError
    from .secrets import SecretsError

    try:
        plan = load_plan(tenants_file, site=site)
        require_prepared(tenants_file, plan, secrets=secrets, known_hosts=known_hosts)
    except InputError as error:
        raise PlanUnavailable(error.summary()) from None
    except (UnpinnedHostError, SecretsError) as error:
        raise PlanUnavailable(str(error)) from None
    return plan
