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
        while not self._stopping:
            try:
                # A full batch means there may be more: go again without waiting.
                while not self._stopping and await asyncio.to_thread(self._step) > 0:
                    pass
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any one failure
                self.last_error = type(exc).__name__
                log.exception("worker %s: step failed; trying again at the next wake-up", self.name)
            await self._wake.wait()
            self._wake.clear()
        self.state = "stopped"
