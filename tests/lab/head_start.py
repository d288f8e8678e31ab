"""Lab work that depends on no other suite starts as soon as the session's lab is up, in the background.

A suite whose expensive part runs on hosts of its own, in subprocesses with their own environment (the molecule
scenarios on node4/node9; the Keycloak pair's first deploys on node7/node10, which the parity and Keycloak suites
share), registers a starter here at import. When the `lab` fixture has the lab up, it starts
every registered starter whose module has tests selected in this session; the module's fixture then takes the
started work (or starts it itself, when no head start was made), and its tests wait for the results. Meanwhile
pytest runs the other suites: a deploy waits on its host about half of its time, and the background work fills that.

Rules for a starter: it runs its setup in the calling (main) thread and only subprocesses and SSH in its threads —
never a change to os.environ or to files another suite reads — and it returns something `finish()` can wait for.
The `lab` fixture waits for all of it before it takes the lab down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Any

import pytest

# module name -> starter(session, lab, tmp_path_factory) -> (futures, result the module's fixture takes)
Starter = Callable[[pytest.Session, Any, pytest.TempPathFactory], tuple[list[Future[Any]], Any]]
_STARTERS: dict[str, tuple[Starter, tuple[str, ...], bool]] = {}
_STARTED: dict[str, tuple[list[Future[Any]], Any]] = {}
# Held while background work resets a lab host (the host is down meanwhile), and by a test that looks at every host
# for as long as it runs (tests/lab/conftest.py `lab_at_rest`): such a test waits for one reset at most, not for all
# the background work, and no host goes down under it.
HOST_RESETS = threading.Lock()


def register(name: str, starter: Starter, modules: tuple[str, ...] = (), last: bool = False) -> None:
    """`starter` under `name`, started when any of `modules` (default: the module called `name`) has tests
    selected in the session; with `last`, after every starter without it (whatever the order of registration), so
    that it finds their work in started_before(). Work that resets a lab host holds HOST_RESETS meanwhile."""
    _STARTERS[name] = (starter, modules or (name,), last)


def selected_in(session: pytest.Session, module: str) -> list[pytest.Item]:
    return [item for item in session.items if getattr(item.module, "__name__", None) == module]


def begin(session: pytest.Session, lab: Any, factory: pytest.TempPathFactory) -> None:
    """Start every registered starter one of whose modules has selected tests (once per session), in the order
    they were registered, those registered `last` at the end."""
    for name, (starter, modules, _) in sorted(_STARTERS.items(), key=lambda item: item[1][2]):
        if name not in _STARTED and any(selected_in(session, module) for module in modules):
            _STARTED[name] = starter(session, lab, factory)


def take(name: str) -> Any | None:
    """What the head start `name` returned, or None when it was not started."""
    started = _STARTED.get(name)
    return None if started is None else started[1]


def started_before() -> list[Future[Any]]:
    """The work started so far: a starter whose work should not compete with it for the two cores waits for it."""
    return [future for futures, _ in _STARTED.values() for future in futures]


def finish() -> None:
    """Wait for everything started (the lab must not go down under a running scenario). What was started stays
    available to `take`."""
    for futures, _ in _STARTED.values():
        wait(futures)
