"""The SQLite write gate (storage/db.py FairLock): granted in the order asked for, re-entrant,
and a long wait or hold is logged (a webhook must be answered within Twilio's 15 s)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from storage import db
from storage.db import FairLock


def _queue_up(lock: FairLock, names: list[str], order: list[str]) -> list[threading.Thread]:
    threads = []
    for name in names:

        def take(name: str = name) -> None:
            with lock:
                order.append(name)

        thread = threading.Thread(target=take, name=name)
        thread.start()
        threads.append(thread)
        # The next one asks only once this one waits: asking order is what is tested.
        deadline = time.monotonic() + 5
        while len(lock._queue) < len(threads) and time.monotonic() < deadline:  # noqa: SLF001
            time.sleep(0.001)
    return threads


def test_waiters_get_the_lock_in_the_order_they_asked() -> None:
    lock, order = FairLock(), list[str]()
    with lock:
        threads = _queue_up(lock, [f"w{n}" for n in range(8)], order)
        # Re-entrant: the holder takes it again without waiting behind the queue.
        with lock:
            order.append("holder again")
    for thread in threads:
        thread.join(5)
    assert order == ["holder again"] + [f"w{n}" for n in range(8)]


def test_a_holder_that_releases_and_asks_again_queues_behind_those_waiting() -> None:
    lock, order = FairLock(), list[str]()
    with lock:
        threads = _queue_up(lock, ["webhook"], order)
    with lock:  # the pipeline's next batch, asked for right after its last one
        order.append("pipeline")
    threads[0].join(5)
    assert order == ["webhook", "pipeline"]


def test_a_long_wait_and_a_long_hold_are_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(db, "SLOW_GATE_SECONDS", 0.05)
    lock, order = FairLock(), list[str]()
    with caplog.at_level(logging.WARNING, logger="storage.db"):
        with lock:
            threads = _queue_up(lock, ["webhook"], order)
            time.sleep(0.1)
        threads[0].join(5)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("webhook waited") for m in messages), messages
    assert any("held the write gate" in m for m in messages), messages
