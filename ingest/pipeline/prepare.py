"""Preparing receipts for the pipeline: each normalised, and its text read by the router.

Neither needs the database, and together they were about a quarter of a receipt's work in the
service's process, where they held the interpreter that the receivers, the pipeline's writes
and the outbox share. With ``[pipeline] prepare_processes`` they run in a pool of processes
of their own: the pipeline hands a batch's receipts over in chunks and its transaction takes
each result when it reaches that receipt, so the pool prepares the rest of the batch while the
transaction writes what is ready. Without a pool (tests, commands, a one-core machine) the same
function runs in the pipeline's thread, and the router reads the text when it routes.

A prepared result is only ever a cache: nothing is acknowledged or stored by it. A pool that
fails (a process killed, a result that cannot be sent back) costs a warning, and the chunk is
prepared again in the pipeline's own process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from channels.base import Channel, InboundMessage, UnprocessableReceipt
from ingest.outgoing.rendered_mail import Rendering, render_chunk
from ingest.pipeline.storable import storable
from router.understand import Understander, Understanding

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """A receipt normalised; ``understanding``: the router's reading of its text, when read ahead."""

    inbound: InboundMessage
    understanding: Understanding | None = None


# A receipt on its way through a batch: prepared, or the error that stopped its normalising.
Parsed = Prepared | Exception


@dataclass(frozen=True)
class Job:
    """What preparing one receipt needs from its row."""

    receipt_id: int
    channel: str
    raw: bytes
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class Preparer:
    """Prepares jobs with the office's channel adapters and, when given, its router's understander."""

    channels: Mapping[str, Channel]
    understander: Understander | None = None

    def __call__(self, job: Job) -> Parsed:
        try:
            channel = self.channels.get(job.channel)
            if channel is None:
                raise UnprocessableReceipt(f"no channel adapter named {job.channel!r}")
            inbound = storable(channel.normalise(job.raw, job.meta))
        except Exception as exc:  # noqa: BLE001 - parked with its error in the transaction
            return exc
        if self.understander is None or inbound.automatic:
            return Prepared(inbound)  # automatic mail never opens an inquiry: nothing to route
        try:
            understood = self.understander.understand(
                subject=inbound.subject, text=inbound.text, attachments=len(inbound.attachments)
            )
        except Exception:  # noqa: BLE001 - read again when routing, where its error parks the receipt
            return Prepared(inbound)
        return Prepared(inbound, understood)

    def chunk(self, jobs: Sequence[Job]) -> list[tuple[int, Parsed]]:
        return [(job.receipt_id, self(job)) for job in jobs]


# The pool's processes each build their preparer once, when they start (see _start).
_preparer: Preparer | None = None


def _start(build: Callable[[], Preparer], parent: int) -> None:
    global _preparer  # noqa: PLW0603 - this process's one preparer, set as it starts
    _preparer = build()
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    """Ends this process once the service's process is gone: a service killed with SIGKILL
    cannot stop its pool, and the pool's queue never tells its processes (each holds both ends)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _prepare_chunk(jobs: Sequence[Job]) -> list[tuple[int, Parsed]]:
    assert _preparer is not None, "a pool process prepares only after _start"
    return _preparer.chunk(jobs)


def _ready() -> bool:
    return _preparer is not None


class PreparingPool:
    """Processes that prepare receipts; ``build`` (picklable) makes each one's :class:`Preparer`."""

    def __init__(self, build: Callable[[], Preparer], processes: int) -> None:
        self.processes = processes
        self.generation = 0  # counts the restarts
        self._build = build
        self._executor = self._new_executor()
        self._starting: list[Future[bool]] = []
        self._closed = False

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn: the service's process has threads, which a forked child would inherit half-way.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=_start, initargs=(self._build, os.getpid())
        )

    def warm(self) -> None:
        """Start the processes now; until they are up (a second or two), see :meth:`started`."""
        self._starting = [self._executor.submit(_ready) for _ in range(self.processes)]

    def started(self) -> bool:
        """False while the processes :meth:`warm` started are still starting: the pipeline
        prepares in its own process meanwhile rather than make the first messages wait. False
        once closed: the pipeline gave the pool up, and the outbox renders its mail itself."""
        return not self._closed and all(future.done() for future in self._starting)

    def submit(self, jobs: Sequence[Job]) -> Future[list[tuple[int, Parsed]]]:
        return self._executor.submit(_prepare_chunk, list(jobs))

    def render(self, payloads: Sequence[Mapping[str, Any]]) -> Future[list[Rendering]]:
        """The outbox's e-mails rendered (ingest/outgoing/mail_ahead.py): the processes have the
        cores that preparing receipts leaves them."""
        return self._executor.submit(render_chunk, list(payloads))

    def restart(self) -> None:
        """After a failure: a new set of processes for what comes next."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()
        self.generation += 1
        self.warm()

    def close(self, timeout: float = 10) -> None:
        """Stop the processes: what they prepare is only a cache, so one that does not end within
        ``timeout`` seconds (stuck starting, or on a pathological message) is killed rather than
        let hold up the service's stop."""
        self._closed = True
        # The executor has no way to end its processes but waiting for them: its own table of them.
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        stopping = threading.Thread(
            target=self._executor.shutdown, kwargs={"wait": True, "cancel_futures": True}, name="pool-stop"
        )
        stopping.start()
        stopping.join(timeout)
        for process in processes:
            if process.is_alive():
                log.warning("a preparing process did not stop within %.0f s: killed", timeout)
                process.kill()
                process.join(5)
        stopping.join(5)


def chunks(jobs: Sequence[Job], processes: int) -> list[Sequence[Job]]:
    """Jobs in chunks small enough that the first is ready soon and the processes share the work,
    large enough that each carries more than its own round trip."""
    size = max(1, min(16, len(jobs) // (4 * max(processes, 1))))
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]
