"""Component specs: what one component puts on a host, declared once as data and read by both engines.

A component (base hardening, later PostgreSQL, Synapse, nginx, ...) is built per host from the host's plan data
(``counselkit.render.host_vars``): every condition on the platform (proxy set, report mail configured) is decided
while building it, so an engine only loops over what it is given:

* pyinfra: ``deploy/<component>.py`` builds the spec from ``host.data.counselkit`` and turns each entry into an
  operation (``apt.packages``, ``put_template``, ``directory``, ``systemd.service``).
* Ansible: the inventory plugin (``inventories/ansible/plugins/inventory/counselkit_plan.py``) puts
  ``Component.as_data()`` into the hostvars (``counselkit_components``); the role's tasks ``loop:`` over its lists.

What only a running host can tell (is this a container? may nft talk to the kernel?) is not decided here: an entry
names what it ``needs`` (``HOST_KERNEL``, ``NET_ADMIN``) and each engine checks that with its own facts.

Order of the lists is the order of the deploy: packages, groups, users, directories, copies, files (each validated
after/before writing), absent files, line edits, handlers of changed files, services, unwanted services.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# Runtime requirements an engine checks on the host itself.
HOST_KERNEL = "host-kernel"  # not in a container: the kernel (sysctls, audit, clock) is this host's own
NET_ADMIN = "net-admin"  # nft may talk to the kernel (CAP_NET_ADMIN in the host's network namespace)
Need = Literal["host-kernel", "net-admin"] | None


@dataclass(frozen=True)
class Directory:
    path: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0755"


@dataclass(frozen=True)
class File:
    """A file rendered from templates/<template> (the shared template context) to ``dest``."""

    template: str
    dest: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0644"
    # Checks the file; ``%s`` is the file to check (Ansible's ``validate``: the new file before it is moved into
    # place; pyinfra: the written file, right after writing).
    validate: str | None = None
    validate_needs: Need = None
    handler: str | None = None  # name of a Handler run when the file changed
    # Holds a secret or proxy credentials: never shown (Ansible no_log and diff: false; pyinfra never prints content).
    sensitive: bool = False
    # A per-tenant file (templates/ TENANT_TEMPLATES): rendered with ``tenant`` set to the tenant of this slug.
    # A sensitive file may name a handler: no_log hides a loop item's output, but its registered result keeps
    # ``item`` and ``changed`` (what the roles' changed-handler lists read).
    tenant: str | None = None
    # None: rendered with the shared host context (counselkit.render.host_context). Else the name of a context the
    # component's engine code builds from plain data of the host vars (backup: "common" or a job's name), because
    # the template belongs to a tool with its own context (templates/backup/).
    context: str | None = None


@dataclass(frozen=True)
class Copy:
    """A file of the repository copied as it is (no template): ``source`` relative to the repository root."""

    source: str
    dest: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0644"
    handler: str | None = None


@dataclass(frozen=True)
class User:
    """A system account without login; ``home`` is not created by the account (a spec directory is)."""

    name: str
    group: str
    home: str
    shell: str = "/usr/sbin/nologin"


@dataclass(frozen=True)
class Line:
    """One line of a file the component does not own (a package's config): the line matching ``regexp`` is replaced
    by ``line``. The expression must mean the same to Python's re (Ansible lineinfile) and to GNU grep/sed basic
    syntax (pyinfra files.line): ``^``, ``.``, ``*``, ``\\s`` and literals only (``?`` and ``+`` differ)."""

    path: str
    regexp: str
    line: str


@dataclass(frozen=True)
class Handler:
    """What runs when a file with ``handler == name`` changed: a unit action, a command (argv) or a daemon-reload."""

    name: str
    unit: str | None = None
    action: Literal["reloaded", "restarted"] | None = None
    argv: tuple[str, ...] = ()
    daemon_reload: bool = False
    needs: Need = None
    # Run first (argv); a failure stops the deploy before the action (e.g. ``nginx -t`` before a reload: the
    # configuration is checked as a whole, once all its files are written).
    check: tuple[str, ...] = ()
    # Further names that trigger it, as Ansible's ``listen``: a file (or an engine's own operation) names one
    # handler or topic, and every handler listening to that topic runs (Synapse: the release, the unit template or
    # the counselling module changed -> every tenant's instance restarts).
    listen: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    unit: str
    enabled: bool = True
    running: bool | None = True  # None: left as it is (started elsewhere)
    # Where the host lacks this, the unit is not started; with ``off_without`` it is also stopped and disabled.
    running_needs: Need = None
    off_without: bool = False


@dataclass(frozen=True)
class Component:
    name: str
    packages: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # system groups
    users: tuple[User, ...] = ()  # system users (no login)
    directories: tuple[Directory, ...] = ()
    copies: tuple[Copy, ...] = ()  # repository files copied as they are (before the templates)
    files: tuple[File, ...] = ()
    absent: tuple[str, ...] = ()  # files removed (e.g. a conditional file the platform does not use)
    lines: tuple[Line, ...] = ()
    handlers: tuple[Handler, ...] = ()
    services: tuple[Service, ...] = ()
    unwanted_services: tuple[str, ...] = ()  # stopped and disabled where present
    layout: dict[str, Any] = field(default_factory=dict)  # paths and names the engines need beyond the lists
    secrets: tuple[str, ...] = ()  # references (counselkit.layout.*_secret_ref) the component's files read

    def handler(self, name: str) -> Handler:
        return next(h for h in self.handlers if h.name == name)

    def as_data(self) -> dict[str, Any]:
        """Plain data (lists, dicts, strings) for the Ansible hostvars."""
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
