"""Group commit: many concurrent receivers, one writer, one commit for whatever is waiting.

A receiver (webhook, SMTP session) may acknowledge only after its receipt is
committed, and on SQLite each commit costs a write-ahead-log sync. Committing
each request on its own serialises the requests behind one sync apiece; here
the requests that arrive while a commit is under way wait together and go into
the next one, so a flood costs one sync per batch and a lone request still goes
at once (no timer, no added latency).

If the database refuses a batch because of one item (a value it cannot hold), the
items are written again one by one, so that item fails only its own request; if
the database is away, the whole batch fails at once and the senders retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.exc import DataError, IntegrityError

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class Closed(Exception):
    """The committer is shutting down: the caller answers "try again later" (451, 503)."""


class GroupCommitter(Generic[Item, Result]):
    """Calls ``write_batch`` (blocking, in a thread) with the items submitted while the last call ran."""

    def __init__(
        self,
        write_batch: Callable[[Sequence[Item]], Sequence[Result]],
        *,
        max_batch: int = 256,
    ) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]] | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # how many commits were made: for tests and the benchmark
        self.items = 0

    async def submit(self, item: Item) -> Result:
        """Resolve with the item's result once the batch holding it is committed."""
        if self._closing:
            raise Closed("shutting down")
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._writer = loop.create_task(self._run(self._queue), name="group-commit")
        assert self._queue is not None
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put_nowait((item, future))
        # shield: a caller that goes away (client disconnected) does not cancel the commit.
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Commit and answer everything submitted so far; later submissions get ``Closed``."""
        self._closing = True
        if self._writer is None or self._queue is None:
            return
        self._queue.put_nowait(None)  # after every item already queued
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def _run(self, queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]] | None]) -> None:
        stop = False
        while not stop:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch and not queue.empty():
                nxt = queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await asyncio.to_thread(self._write_batch, items)
        except (IntegrityError, DataError) as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            # One item the database refuses (a value it cannot hold) must not fail the others.
            log.warning(
                "group commit of %d items refused (%s); writing them one by one", len(batch), type(exc).__name__
            )
            for item, future in batch:
                try:
                    (result,) = await asyncio.to_thread(self._write_batch, [item])
                except Exception as one_exc:  # noqa: BLE001
                    _settle(future, error=one_exc)
                else:
                    _settle(future, result=result)
                    self.items += 1
                self.batches += 1
            return
        except BaseException as exc:
            # The database is away or locked: every item fails alike, at once, and the senders
            # retry (451, 503). A cancellation settles them too, so no caller waits for ever.
            for _, future in batch:
                _settle(future, error=exc if isinstance(exc, Exception) else Closed("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        self.items += len(items)
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[Result], *, result: Result | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # its caller's loop is gone or it was cancelled: the commit stands anyway
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
