"""The scheduler's jobs still running, so that the service shuts the scheduler down only after them.

APScheduler's asyncio executor runs a plain function in the event loop's default thread pool, and
its ``shutdown`` cancels every job that has not finished, logging each as "raised an exception"
with a ``CancelledError`` traceback. The workers' batches use the same pool, so a job handed over
while the service stops can wait there behind them (seen in CI: a "pipeline-due" wake-up in the
log of a clean stop). The service pauses the scheduler, lets the workers end, waits here for the
jobs already handed over, and only then shuts it down.
"""

from __future__ import annotations

import asyncio
import threading

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.base import BaseScheduler


class JobsInFlight:
    """Counts the jobs handed to an executor and not yet finished (jobs coalesce, the default:
    one run, one outcome)."""

    def __init__(self, scheduler: BaseScheduler) -> None:
        self._count = 0
        self._lock = threading.Lock()
        scheduler.add_listener(self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def _on_event(self, event: JobEvent) -> None:
        with self._lock:
            self._count = self._count + 1 if event.code == EVENT_JOB_SUBMITTED else max(0, self._count - 1)

    @property
    def running(self) -> int:
        with self._lock:
            return self._count

    async def settle(self, timeout: float) -> bool:
        """Wait until no job is running, at most ``timeout`` seconds; whether none is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.running and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return not self.running
