"""A scheduled job running when the service stops finishes, instead of being cancelled by
APScheduler's shutdown with a traceback in the log (ingest/scheduled_jobs.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ingest.scheduled_jobs import JobsInFlight


async def stop_during_a_job(*, settle: bool) -> tuple[bool, int]:
    """A job that takes half a second, and the scheduler stopped while it runs; (whether it
    finished, how many jobs were counted running when the stop began)."""
    scheduler = AsyncIOScheduler()
    jobs = JobsInFlight(scheduler)
    started, finished = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        time.sleep(0.5)
        finished.set()

    scheduler.add_job(slow, id="slow")  # once, now
    scheduler.start()
    assert await asyncio.to_thread(started.wait, 10)
    scheduler.pause()
    running = jobs.running
    if settle:
        assert await jobs.settle(timeout=10)
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0.1)  # the executor's callback runs
    return finished.is_set(), running


def test_the_stop_waits_for_a_running_job(caplog: Any) -> None:
    with caplog.at_level(logging.ERROR):
        finished, running = asyncio.run(stop_during_a_job(settle=True))
    assert running == 1 and finished
    assert "Error running job" not in caplog.text and "Traceback" not in caplog.text


def test_without_waiting_the_job_is_cancelled_with_an_error(caplog: Any) -> None:
    # What the service did before: the error that JobsInFlight keeps out of a clean stop's log.
    with caplog.at_level(logging.ERROR):
        _, running = asyncio.run(stop_during_a_job(settle=False))
    assert running == 1
    assert "Error running job slow" in caplog.text and "CancelledError" in caplog.text
