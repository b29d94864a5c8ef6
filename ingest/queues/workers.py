"""A background loop that does one kind of work whenever it is woken.

Whoever creates work wakes the worker at once (a receipt stored, a message
queued); the scheduler wakes it on an interval for what falls due later
(retries). The work itself (a batch of blocking database calls) runs in a thread so the
event loop that serves SMTP and HTTP never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# The longest pause between runs while a worker keeps failing.
MAX_PAUSE_SECONDS = 30.0


class Worker:
    def __init__(self, name: str, step: Callable[[], int]) -> None:
        self.name = name
        self._step = step
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.state = "new"
        self.last_error: str | None = None

    def wake(self) -> None:
        """Ask for a run as soon as possible; callable from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.state = "running"
        failures = 0
        while not self._stopping:
            try:
                # A full batch means there may be more: go again without waiting.
                while not self._stopping and await asyncio.to_thread(self._step) > 0:
                    pass
                if failures:
                    log.info("worker %s: working again after %d failed runs", self.name, failures)
                failures, self.last_error = 0, None
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any one failure
                failures += 1
                self.last_error = type(exc).__name__
                if failures == 1:
                    log.exception("worker %s: step failed; trying again at the next wake-up", self.name)
                else:
                    # The same outage (database down, disk full) again: one line, not a traceback per poll.
                    log.warning("worker %s: step failed again (%s, %d in a row)", self.name, self.last_error, failures)
                # Wake-ups come every poll; while the cause lasts, space the attempts out.
                await self._pause(min(MAX_PAUSE_SECONDS, 0.5 * 2 ** min(failures, 8)))
            await self._wake.wait()
            self._wake.clear()
        self.state = "stopped"

    async def _pause(self, seconds: float) -> None:
        """Sleep, but return at once when the worker is stopped."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not self._stopping and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(min(0.2, seconds))
