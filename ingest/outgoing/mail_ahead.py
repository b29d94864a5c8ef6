"""The e-mails of a claimed outbox batch, rendered ahead in the preparing pool while the outbox's
thread sends the ones before them.

Like the pipeline's read-ahead (ingest/pipeline/ahead.py), a rendering is only ever a cache: a
pool that is not there, still starting, or failing costs at most a warning, and the row's mail is
rendered in the outbox's own thread, to the same bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from ingest.outgoing.rendered_mail import RenderedMail, Rendering, render_mail
from ingest.pipeline.prepare import PreparingPool
from storage.models import Outbox

log = logging.getLogger(__name__)

# Rows per chunk handed to the pool: the first comes back soon, and each carries more than its round trip.
CHUNK = 16
# A pool's chunk not back within this long is rendered here instead (a stuck or overloaded pool).
WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class _Chunk:
    future: Future[list[Rendering]]
    ids: tuple[int, ...]


@dataclass
class MailAhead:
    pool: PreparingPool | None = None
    _pending: dict[int, _Chunk] = field(default_factory=dict)
    _done: dict[int, Rendering] = field(default_factory=dict)
    _warned_generation: int = -1

    def start(self, rows: Sequence[Outbox]) -> None:
        """Hand these rows' mail to the pool, when there is one that has started."""
        pool = self.pool
        mail = [row for row in rows if row.id is not None]
        if pool is None or not pool.started() or not mail:
            return
        for i in range(0, len(mail), CHUNK):
            part = mail[i : i + CHUNK]
            try:
                chunk = _Chunk(pool.render([row.payload for row in part]), tuple(row.id or 0 for row in part))
            except Exception as exc:  # noqa: BLE001 - a pool shut down or broken: rendered here, row by row
                self._failed(pool, exc)
                return
            self._pending.update(dict.fromkeys(chunk.ids, chunk))

    def take(self, row: Outbox) -> RenderedMail | None:
        """The row's mail rendered (here, when the pool has not); None when it must go as a
        message (see render_mail). Raises what building the message raises."""
        result = self._done.pop(row.id) if row.id is not None and self._collected(row.id) else render_mail(row.payload)
        if isinstance(result, Exception):
            raise result
        return result

    def forget(self) -> None:
        """The batch is over: what it did not take is not kept (a row taken later may have changed)."""
        self._pending.clear()
        self._done.clear()

    def _collected(self, row_id: int) -> bool:
        """Whether the pool's rendering of the row is here, waiting for its chunk if it must."""
        chunk = self._pending.pop(row_id, None)
        if chunk is not None:
            for other in chunk.ids:
                self._pending.pop(other, None)
            try:
                self._done.update(zip(chunk.ids, chunk.future.result(timeout=WAIT_SECONDS), strict=True))
            except Exception as exc:  # noqa: BLE001 - a broken or stuck pool: rendered here instead
                if self.pool is not None:
                    self._failed(self.pool, exc)
                self._pending.clear()  # the rest of the batch too, rather than wait for each chunk
        return row_id in self._done

    def _failed(self, pool: PreparingPool, exc: BaseException) -> None:
        # Once per set of processes: the pipeline's read-ahead restarts them (ingest/pipeline/ahead.py).
        if self._warned_generation != pool.generation:
            self._warned_generation = pool.generation
            log.warning("the preparing processes did not render outgoing mail (%s); rendered here", type(exc).__name__)
