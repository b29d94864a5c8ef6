"""Receipts prepared, or being prepared, ahead of the transaction that takes them.

The pipeline parses a batch before its transaction (no lock is held for it) and keeps what a
batch cut short by its time budget did not reach for the next one. With a pool of processes
(ingest/pipeline/prepare.py) the results arrive while the transaction runs: it takes the ones
that are ready when it starts for its read-ahead queries, and waits for each other one only
when it reaches it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from ingest.pipeline.prepare import Job, Parsed, Preparer, PreparingPool, chunks

log = logging.getLogger(__name__)

# A pool whose processes broke this many times is given up until the service restarts.
MAX_RESTARTS = 3


@dataclass(frozen=True)
class _Chunk:
    future: Future[list[tuple[int, Parsed]]]
    jobs: Sequence[Job]
    generation: int  # of the pool's processes it was handed to (PreparingPool.generation)


@dataclass
class Ahead:
    # Makes the preparer that works in the pipeline's own thread: without a pool, or when it fails.
    here: Callable[[], Preparer]
    pool: PreparingPool | None = None
    _done: dict[int, Parsed] = field(default_factory=dict)
    _pending: dict[int, _Chunk] = field(default_factory=dict)

    def known(self, receipt_id: int) -> bool:
        return receipt_id in self._done or receipt_id in self._pending

    def start(self, jobs: Sequence[Job]) -> None:
        """Prepare these: handed to the pool, or done here and now."""
        for part in chunks(jobs, self.pool.processes if self.pool is not None else 1):
            pool = self.pool
            if pool is None or not pool.started():  # none, still starting, or given up at a chunk before
                self._done.update(self.here().chunk(part))
                continue
            generation = pool.generation
            try:
                pending = _Chunk(pool.submit(part), part, generation)
            except Exception as exc:  # noqa: BLE001 - a pool found broken: this chunk prepared here
                self._pool_failed(exc, generation)
                self._done.update(self.here().chunk(part))
                continue
            self._pending.update((job.receipt_id, pending) for job in part)

    def result(self, receipt_id: int) -> Parsed:
        """The receipt's result, waiting for its chunk if it is still being prepared (here, when
        the pool fails)."""
        if receipt_id not in self._done:
            self._collect(self._pending[receipt_id])
        return self._done[receipt_id]

    def result_within(self, receipt_id: int, timeout: float) -> Parsed | None:
        """As :meth:`result`, waiting at most ``timeout`` seconds; None when it is not ready by then."""
        pending = self._pending.get(receipt_id)
        if pending is not None and not wait([pending.future], timeout=max(timeout, 0)).done:
            return None
        return self.result(receipt_id)

    def ready_prefix(self, receipt_ids: Sequence[int]) -> list[tuple[int, Parsed]]:
        """The results of the leading receipts that are ready now, in order; at least the first's."""
        ready: list[tuple[int, Parsed]] = []
        for receipt_id in receipt_ids:
            pending = self._pending.get(receipt_id)
            if ready and pending is not None and not pending.future.done():
                break
            ready.append((receipt_id, self.result(receipt_id)))
        return ready

    def keep_only(self, receipt_ids: Iterable[int]) -> None:
        """Forget every receipt but these (the rest are no longer waiting, or not this batch's)."""
        keep = set(receipt_ids)
        self._done = {i: parsed for i, parsed in self._done.items() if i in keep}
        self._pending = {i: pending for i, pending in self._pending.items() if i in keep}

    def forget(self, receipt_id: int) -> None:
        self._done.pop(receipt_id, None)
        self._pending.pop(receipt_id, None)

    def _collect(self, pending: _Chunk) -> None:
        try:
            results = pending.future.result()
        except Exception as exc:  # noqa: BLE001 - only a cache: prepared here instead
            self._pool_failed(exc, pending.generation)
            results = self.here().chunk(pending.jobs)
        for receipt_id, parsed in results:
            self._pending.pop(receipt_id, None)
            self._done[receipt_id] = parsed

    def _pool_failed(self, exc: BaseException, generation: int) -> None:
        log.warning("preparing receipts in another process failed (%s): prepared in this one", type(exc).__name__)
        # Every chunk the broken processes held fails alike: the first starts new processes.
        if not isinstance(exc, BrokenProcessPool) or self.pool is None or generation != self.pool.generation:
            return
        if self.pool.generation >= MAX_RESTARTS:
            # Processes that die as they start (the code on the disk changed under a running
            # service, memory) would be started again for every batch.
            log.error("preparing processes failed %d times: receipts are prepared in this process", MAX_RESTARTS + 1)
            self.pool.close()
            self.pool = None
            return
        self.pool.restart()
