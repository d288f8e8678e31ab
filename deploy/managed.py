"""Files and directories the deploy manages, checked in bulk: one round trip reads the state of many paths.

pyinfra's files.put / files.directory ask the host two or three facts per path (File, Sha1File, Directory); with
a dozen files per tenant the no-change re-run of a busy host spends most of its time waiting for those round trips.
Here each deploy registers its paths while pyinfra prepares the operations; the first operation that needs a path's
state reads all registered, not yet read paths of that host at once (`PathStates`). An operation that writes a path
forgets its state, so a later reader fetches it again: the cache never answers for a path this run changed.
"""

from __future__ import annotations

import hashlib
import posixpath
import secrets as random_source
import shlex
from dataclasses import dataclass
from io import BytesIO

from pyinfra import host
from pyinfra.api import FactBase, FileUploadCommand, operation

from . import commands

CHUNK = 400  # paths per fact command: stays far below the kernel's limit for one argument (128 KiB)


@dataclass(frozen=True)
class PathState:
    kind: str  # "regular file", "directory", "symbolic link", ...
    mode: str  # octal without leading zeros, as `stat -c %a` prints it
    user: str
    group: str
    sha1: str | None  # regular files only


class PathStates(FactBase):
    """Type, mode, owner and SHA-1 of each existing path; absent paths are left out."""

    def command(self, paths: tuple[str, ...]) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        # stat does not follow symlinks; sha1sum skips directories with a message on stderr. Absent paths only
        # write to stderr, hence the trailing `true`.
        return (f"stat -c '%F|%a|%U|%G|%n' {quoted} 2>/dev/null; echo '--sha1--'; "
                f"sha1sum {quoted} 2>/dev/null; true")

    def process(self, output: list[str]) -> dict[str, PathState]:
        stats, sums, in_sums = {}, {}, False
        for line in output:
            if line == "--sha1--":
                in_sums = True
            elif in_sums:
                digest, _, path = line.partition("  ")
                sums[path] = digest
            elif line.count("|") >= 4:
                kind, mode, user, group, path = line.split("|", 4)
                stats[path] = (kind, mode, user, group)
        return {path: PathState(kind, mode, user, group, sums.get(path) if kind.startswith("regular") else None)
                for path, (kind, mode, user, group) in stats.items()}


_registered: dict[str, list[str]] = {}
_known: dict[str, dict[str, PathState | None]] = {}


def register(path: str) -> None:
    """Announce a path this run will manage on the current host (called while operations are prepared)."""
    paths = _registered.setdefault(host.name, [])
    if path not in paths:
        paths.append(path)


def state(path: str) -> PathState | None:
    """The path's state on the current host: from the bulk read, made when the first unread path is asked for."""
    known = _known.setdefault(host.name, {})
    if path not in known:
        register(path)
        unread = [p for p in _registered[host.name] if p not in known]
        for start in range(0, len(unread), CHUNK):
            chunk = tuple(unread[start:start + CHUNK])
            found = host.get_fact(PathStates, paths=chunk) or {}
            known.update({p: found.get(p) for p in chunk})
    return known[path]


def forget(path: str) -> None:
    _known.get(host.name, {}).pop(path, None)


def normal_mode(mode: str | int) -> str:
    return str(mode).lstrip("0") or "0"


@operation()
def file(dest: str, content: str, user: str = "root", group: str = "root", mode: str = "644"):
    """`dest` holds exactly `content` with this owner and mode. The upload goes to a temporary name in the same
    directory and is renamed into place after chown/chmod: never a half-written file, never a world-readable copy
    elsewhere. The content is never printed (some files hold secrets)."""
    data = content.encode()
    current = state(dest)
    mode = normal_mode(mode)
    same_content = current is not None and current.sha1 == hashlib.sha1(data).hexdigest()
    if same_content and _owned_as(current, user, group, mode):
        host.noop(f"{dest} is up to date")
        return
    forget(dest)
    if same_content:
        yield from _set_owner_and_mode(dest, user, group, mode)
        return
    directory_name = posixpath.dirname(dest)
    temp = posixpath.join(directory_name, f".counselkit-upload-{random_source.token_hex(8)}")
    if current is None:
        yield f"mkdir -p {shlex.quote(directory_name)}"
    yield FileUploadCommand(BytesIO(data), temp)
    yield from _set_owner_and_mode(temp, user, group, mode)
    yield f"mv -f {shlex.quote(temp)} {shlex.quote(dest)}"


@operation()
def directory(path: str, user: str = "root", group: str = "root", mode: str = "755"):
    """`path` is a directory with this owner and mode (created with its parents if missing)."""
    current = state(path)
    mode = normal_mode(mode)
    if current is not None and current.kind == "directory" and _owned_as(current, user, group, mode):
        host.noop(f"directory {path} is as wanted")
        return
    forget(path)
    if current is None:
        yield f"mkdir -p {shlex.quote(path)}"
    elif current.kind != "directory":
        raise OSError(f"{path} exists on {host.name} but is a {current.kind}, not a directory")
    yield from _set_owner_and_mode(path, user, group, mode)


@operation()
def owner_and_mode(path: str, user: str = "root", group: str = "root", mode: str = "644"):
    """An existing file's owner and mode (a file some program made, e.g. a generated key)."""
    current = state(path)
    mode = normal_mode(mode)
    if current is not None and _owned_as(current, user, group, mode):
        host.noop(f"{path} has owner {user}:{group} and mode {mode}")
        return
    forget(path)
    yield from _set_owner_and_mode(path, user, group, mode)


def _owned_as(current: PathState, user: str, group: str, mode: str) -> bool:
    return (current.mode, current.user, current.group) == (mode, user, group)


def _set_owner_and_mode(path: str, user: str, group: str, mode: str):
    yield commands.chown(path, user, group)
    yield commands.chmod(path, mode)
