"""Lab work that depends on no other suite starts as soon as the session's lab is up, in the background.

A suite whose expensive part runs on hosts of its own, in subprocesses with their own environment (the molecule
scenarios on node4/node9), registers a starter here at import. When the `lab` fixture has the lab up, it starts
every registered starter whose module has tests selected in this session; the module's fixture then takes the
started work (or starts it itself, when no head start was made), and its tests wait for the results. Meanwhile
pytest runs the other suites: a deploy waits on its host about half of its time, and the background work fills that.

Rules for a starter: it runs its setup in the calling (main) thread and only subprocesses and SSH in its threads —
never a change to os.environ or to files another suite reads — and it returns something `finish()` can wait for.
The `lab` fixture waits for all of it before it takes the lab down.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Any

import pytest

# module name -> starter(session, lab, tmp_path_factory) -> (futures, result the module's fixture takes)
Starter = Callable[[pytest.Session, Any, pytest.TempPathFactory], tuple[list[Future[Any]], Any]]
_STARTERS: dict[str, Starter] = {}
_STARTED: dict[str, tuple[list[Future[Any]], Any]] = {}


def register(module: str, starter: Starter) -> None:
    _STARTERS[module] = starter


def selected_in(session: pytest.Session, module: str) -> list[pytest.Item]:
    return [item for item in session.items if getattr(item.module, "__name__", None) == module]


def begin(session: pytest.Session, lab: Any, factory: pytest.TempPathFactory) -> None:
    """Start every registered starter whose module has selected tests (once per session)."""
    for module, starter in _STARTERS.items():
        if module not in _STARTED and selected_in(session, module):
            _STARTED[module] = starter(session, lab, factory)


def take(module: str) -> Any | None:
    """What the head start of `module` returned, or None when it was not started."""
    started = _STARTED.get(module)
    return None if started is None else started[1]


def finish() -> None:
    """Wait for everything started (the lab must not go down, nor every host be inspected, under a running
    scenario). What was started stays available to `take`."""
    for futures, _ in _STARTED.values():
        wait(futures)
