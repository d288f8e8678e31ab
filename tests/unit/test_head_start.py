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
