"""tests/lab/head_start.py: background work starts only for modules this session selected, once, and finish()
waits for it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from tests.lab import head_start


def session_with(*modules: str) -> SimpleNamespace:
    return SimpleNamespace(items=[SimpleNamespace(module=SimpleNamespace(__name__=name)) for name in modules])


def test_only_selected_modules_start_once_and_finish_waits(monkeypatch) -> None:
    monkeypatch.setattr(head_start, "_STARTERS", {})
    monkeypatch.setattr(head_start, "_STARTED", {})
    calls: list[str] = []
    done = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)

    def slow(session, lab, factory):
        calls.append("slow")
        future = pool.submit(lambda: (time.sleep(0.3), done.set()))
        return [future], {"result": future}

    def never(session, lab, factory):
        calls.append("never")
        return [], None

    head_start.register("suite.slow", slow)
    head_start.register("suite.other", never)
    session = session_with("suite.slow", "suite.unrelated")
    head_start.begin(session, lab=None, factory=None)
    head_start.begin(session, lab=None, factory=None)  # the lab fixture is made once, but never twice anyway
    assert calls == ["slow"]
    assert head_start.take("suite.other") is None
    assert not done.is_set()
    head_start.finish()
    assert done.is_set()
    assert head_start.take("suite.slow")["result"].done()  # still there for the module's fixture
    pool.shutdown()


def test_a_starter_registered_last_starts_after_the_others_and_sees_their_work(monkeypatch) -> None:
    monkeypatch.setattr(head_start, "_STARTERS", {})
    monkeypatch.setattr(head_start, "_STARTED", {})
    order: list[str] = []
    seen: list[int] = []
    pool = ThreadPoolExecutor(max_workers=1)

    def first(session, lab, factory):
        order.append("first")
        return [pool.submit(lambda: None)], None

    def late(session, lab, factory):
        order.append("late")
        seen.append(len(head_start.started_before()))
        return [], "late result"

    head_start.register("pair", late, modules=("suite.a", "suite.b"), last=True)  # registered first, as conftest does
    head_start.register("suite.first", first)
    head_start.begin(session_with("suite.b", "suite.first"), lab=None, factory=None)
    assert order == ["first", "late"]
    assert seen == [1]  # the first starter's one future
    assert head_start.take("pair") == "late result"
    head_start.finish()
    pool.shutdown()


def test_a_starter_for_several_modules_stays_off_when_none_is_selected(monkeypatch) -> None:
    monkeypatch.setattr(head_start, "_STARTERS", {})
    monkeypatch.setattr(head_start, "_STARTED", {})
    calls: list[str] = []
    head_start.register("pair", lambda *args: (calls.append("pair"), ([], None))[1], modules=("suite.a", "suite.b"))
    head_start.begin(session_with("suite.c"), lab=None, factory=None)
    assert calls == [] and head_start.take("pair") is None
