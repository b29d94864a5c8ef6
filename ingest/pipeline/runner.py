"""From a stored receipt to a routed inquiry with its staff notification queued.

Receipts are a work queue (ingest/queues/runner.py's rules for attempts and errors). They are
processed in batches: the channels normalise a batch's receipts before its transaction, then
one transaction claims them and, for each in a savepoint of its own, runs the named steps
(ingest/pipeline/steps.py) in order until one decides what became of it: deduplicated on the
channel's natural id, kept as automatic mail, taken as a staff reply, or threaded into an open
inquiry or a new routed one, with its message, attachments, events and outbox rows. A failing
receipt's savepoint rolls all of its work back and it is parked with its error, to be retried;
the others commit together (one commit, one WAL sync, per batch). What the batch's members
share (the office's state for routing, reference numbers) is in ingest/pipeline/batch.py.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlmodel import Session

from channels.base import Channel, UnprocessableReceipt
from ingest.config import RetrySettings
from ingest.outgoing.notices import Notices
from ingest.pipeline.ahead import Ahead
from ingest.pipeline.arrival import Arrival, Office, Outcome
from ingest.pipeline.batch import Batch
from ingest.pipeline.prepare import Job, Parsed, Prepared, Preparer, PreparingPool
from ingest.pipeline.staff_proof import StaffProof
from ingest.pipeline.steps import run_steps
from ingest.pipeline.storable import storable
from ingest.queues.runner import count_failure
from router.deadlines import DeadlinePolicy
from router.route import Router
from storage import batch_repo, event_buffer, repo
from storage.db import SessionFactory, transaction
from storage.models import Receipt, ReceiptStatus

log = logging.getLogger(__name__)

__all__ = ["Outcome", "Pipeline", "park", "storable"]

PARKED = ReceiptStatus.PARKED.value


@dataclass(frozen=True)
class Member:
    """What became of one receipt of a batch, told after the commit."""

    receipt_id: int
    outcome: Outcome
    decided_by: str
    queued: bool = False  # outgoing messages queued: the sender is woken
    media: bool = False  # media to download queued
    error: BaseException | None = None
    attempts: int = 0
    retry_at: datetime | None = None


@dataclass
class Pipeline:
    sessions: SessionFactory
    channels: Mapping[str, Channel]
    router: Router
    retry: RetrySettings
    notices: Notices
    tz: ZoneInfo
    reference_prefix: str
    deadline_policy: DeadlinePolicy
    clock: Callable[[], datetime]
    # Called after a commit that queued outgoing messages, so the sender wakes at once.
    on_outbox: Callable[[], None] = lambda: None
    # Called after a commit that queued media to download.
    on_media: Callable[[], None] = lambda: None
    # What proves a staff reply by e-mail ([staff_replies]); the default proves nothing.
    staff_proof: StaffProof = field(default_factory=StaffProof)
    # [threading] cross_channel_hours, as working time.
    cross_channel: timedelta = timedelta(hours=8)
    # One batch holds the database's write lock (SQLite) for at most about this long, so that
    # receivers waiting to commit a receipt are not held up for long ...
    max_batch_seconds: float = 0.25
    # ... and parses at most this many bytes of raw messages ahead of its transaction.
    max_batch_bytes: int = 64 * 1024 * 1024
    # Under a stream of arrivals, a batch that would be small waits this long for more when the
    # previous batch ended less than this ago (see :meth:`process_due`); 0: never waits.
    linger_seconds: float = 0.05
    # Receipts prepared for a batch (ingest/pipeline/ahead.py); what its time budget cut short
    # is taken by the next one.
    _ahead: Ahead = field(init=False, repr=False)
    _last_batch_end: float = field(default=float("-inf"), init=False, repr=False)

    def __post_init__(self) -> None:
        self._ahead = Ahead(here=self._here)

    def prepare_in(self, pool: PreparingPool | None) -> None:
        """Prepare receipts (normalise them, read their text) in this pool of processes; None: here."""
        self._ahead.pool = pool

    @cached_property
    def office(self) -> Office:
        """What the steps need, made once: none of it changes while the service runs."""
        return Office(
            router=self.router,
            notices=self.notices,
            tz=self.tz,
            reference_prefix=self.reference_prefix,
            deadline_policy=self.deadline_policy,
            staff_proof=self.staff_proof,
            cross_channel=self.cross_channel,
        )

    def process_due(self) -> int:
        """Process one batch of due receipts; returns how many were decided on (0: nothing due).

        Messages coming in one after another (an SMTP burst) made batches of two or three, each
        paying a batch's fixed costs (its reads of the office, its commit and sync, the outbox's
        round after it) and keeping the receivers from the interpreter. So a batch that would be
        small, right after the previous one, first waits ``linger_seconds`` for more; a message
        after a quiet spell is taken at once."""
        receipt_ids = self.claim()
        busy = time.monotonic() - self._last_batch_end < self.linger_seconds
        if receipt_ids and busy and len(receipt_ids) < self.retry.batch_size:
            time.sleep(self.linger_seconds)
            receipt_ids = self.claim()
        if not receipt_ids:
            return 0
        try:
            return len(self.process_batch(receipt_ids))
        finally:
            self._last_batch_end = time.monotonic()

    def claim(self) -> list[int]:
        # No lease: receipts are claimed inside the transaction that processes them.
        with self.sessions() as session:
            return repo.due_receipt_ids(session, now=self.clock(), limit=self.retry.batch_size)

    def process(self, receipt_id: int) -> Outcome:
        return self.process_batch([receipt_id]).get(receipt_id, Outcome.SKIPPED)

    def process_all(
        self, receipt_ids: Iterable[int], *, progress: Callable[[int], None] = lambda _done: None
    ) -> Counter[Outcome]:
        """Process these receipts now, in order and in batches (``ingest import-calls``); how many
        ended how. ``progress`` is called after each batch with the number processed so far."""
        waiting, counts = list(receipt_ids), Counter[Outcome]()
        while waiting:
            results = self.process_batch(waiting[: self.retry.batch_size])
            counts.update(results.values())
            waiting = [i for i in waiting if i not in results]
            progress(counts.total())
        return counts

    def process_batch(self, receipt_ids: Sequence[int]) -> dict[int, Outcome]:
        """Process receipts in one transaction (a failing one parked alone, see :meth:`_transaction`);
        returns what became of each receipt decided on. A batch cut short by its time or size
        budget leaves the rest waiting, untouched; the first one is always decided."""
        admitted, results = self._parse(receipt_ids)
        if not admitted:
            return results
        try:
            done, taken = self._transaction(admitted)
        except Exception as exc:  # noqa: BLE001 - the whole batch failed: find the culprit alone
            if len(admitted) > 1:
                for receipt_id in admitted:
                    results.update(self.process_batch([receipt_id]))
                return results
            (receipt_id,) = admitted
            self._park(receipt_id, exc)
            return {**results, receipt_id: Outcome.PARKED}
        self._after_commit(done)
        decided = {member.receipt_id for member in done}
        for receipt_id in admitted:
            if receipt_id in decided or receipt_id not in taken:
                self._ahead.forget(receipt_id)
        results.update({i: Outcome.SKIPPED for i in admitted if i not in taken})
        results.update({member.receipt_id: member.outcome for member in done})
        return results

    def _parse(self, receipt_ids: Sequence[int]) -> tuple[list[int], dict[int, Outcome]]:
        """The waiting receipts, in id order, up to the batch's size budget, each being prepared
        (normalised); and SKIPPED for those no longer waiting. Preparing needs no lock: done before
        the write transaction (or beside it, in a pool), so that on SQLite the receivers waiting
        to commit are not held up by it. What a batch cut short did not reach stays prepared for
        the next one."""
        with self.sessions() as session:
            sizes = batch_repo.receipt_sizes(session, ids=receipt_ids)
            admitted = _within(sizes, self.max_batch_bytes)
            self._ahead.keep_only(admitted)  # what is no longer waiting is not kept
            missing = [i for i in admitted if not self._ahead.known(i)]
            receipts = batch_repo.raw_receipts(session, ids=missing) if missing else []
        waiting = {receipt_id for receipt_id, _ in sizes}
        results = {i: Outcome.SKIPPED for i in receipt_ids if i not in waiting}
        jobs = [Job(r.id, r.channel, r.raw, dict(r.meta)) for r in receipts if r.id is not None]
        self._ahead.start(jobs)
        return admitted, results

    def _here(self) -> Preparer:
        """Prepares in this thread (no pool, or the pool failed); the router reads the text later."""
        return Preparer(self.channels)

    def _transaction(self, admitted: list[int]) -> tuple[list[Member], set[int]]:
        """The batch's one transaction; returns the members decided and the receipts it took.

        A receipt that fails rolls the transaction back; it is tried again without that receipt,
        which is parked with its error in the same commit as the others. Failures are rare, and
        this costs no savepoint per receipt (two statements each) when none fails."""
        failed: dict[int, Exception] = {}
        while True:
            try:
                return self._attempt_batch(admitted, failed)
            except _MemberFailed as failure:
                failed[failure.receipt_id] = failure.error

    def _attempt_batch(self, admitted: list[int], failed: dict[int, Exception]) -> tuple[list[Member], set[int]]:
        done: list[tuple[Member, Arrival | None, Receipt]] = []
        # The read-ahead queries cover what is prepared when the batch starts (all of it without a
        # pool, waited for before the write lock is taken); each later receipt looks up its own.
        ready = self._ahead.ready_prefix(admitted)
        with transaction(self.sessions) as session:
            batch = Batch(session=session, calendar=self.router.calendar)
            receipts = batch_repo.waiting_receipts(session, ids=admitted)
            waiting = {receipt.id for receipt in receipts}
            batch.read_ahead(
                p.inbound for i, p in ready if i in waiting and i not in failed and isinstance(p, Prepared)
            )
            covered = {i for i, _ in ready}
            started = time.monotonic()
            for receipt in receipts:
                assert receipt.id is not None
                if receipt.id not in covered:
                    batch.end_read_ahead()
                item = failed.get(receipt.id) or self._next(receipt.id, first=not done, started=started)
                if item is None:
                    break  # the time budget is spent: the next batch takes the rest
                member, arrival = self._member(batch, receipt, item)
                done.append((member, arrival, receipt))
            # Marked at the end, all together: one UPDATE of the receipts for the whole batch.
            for _, arrival, receipt in done:
                if arrival is not None:
                    _mark_processed(receipt, arrival, now=arrival.now)
            batch.finish()
        return [member for member, _, _ in done], {receipt.id for receipt in receipts if receipt.id is not None}

    def _next(self, receipt_id: int, *, first: bool, started: float) -> Parsed | None:
        """The next receipt's preparation, waited for while the batch's time budget lasts (the
        first's always); None when the budget is spent first."""
        if first:
            return self._ahead.result(receipt_id)
        left = self.max_batch_seconds - (time.monotonic() - started)
        return self._ahead.result_within(receipt_id, left) if left > 0 else None

    def _member(self, batch: Batch, receipt: Receipt, item: Parsed) -> tuple[Member, Arrival | None]:
        """One receipt: processed (its receipt marked at the batch's end), or parked with its error."""
        assert receipt.id is not None
        session, now = batch.session, self.clock()
        if isinstance(item, Exception):
            count_failure(receipt, item, retry=self.retry, now=now, pending=PARKED, given_up=PARKED)
            session.add(receipt)
            parked = Member(receipt.id, Outcome.PARKED, "", error=item, attempts=receipt.attempts,
                            retry_at=receipt.next_attempt_at)  # fmt: skip
            return parked, None
        arrival = Arrival(session=session, receipt=receipt, inbound=item.inbound, now=now, office=self.office,
                          batch=batch, understanding=item.understanding)  # fmt: skip
        try:
            with event_buffer.together(session):  # the receipt's events in one INSERT
                outcome, decided_by = run_steps(arrival)
        except Exception as exc:  # noqa: BLE001 - any failure parks the receipt, none is lost
            raise _MemberFailed(receipt.id, exc) from exc
        media = any(attachment.fetch_url for attachment in item.inbound.attachments)
        return Member(receipt.id, outcome, decided_by, queued=arrival.queued, media=media), arrival

    def _after_commit(self, done: Sequence[Member]) -> None:
        if any(member.queued for member in done):
            self.on_outbox()
        if any(member.media for member in done):
            self.on_media()
        for member in done:
            if member.error is None:
                log.info("receipt %s processed: %s (decided by %s)", member.receipt_id, member.outcome.value,
                         member.decided_by)  # fmt: skip
            else:
                _log_parked(member.receipt_id, member.error, member.attempts, member.retry_at)

    def _park(self, receipt_id: int, exc: Exception) -> None:
        with transaction(self.sessions) as session:
            receipt = park(session, receipt_id=receipt_id, exc=exc, retry=self.retry, now=self.clock())
            if receipt is None:
                return
            attempts, retry_at = receipt.attempts, receipt.next_attempt_at
        _log_parked(receipt_id, exc, attempts, retry_at)


def _within(sizes: Sequence[tuple[int, int]], budget: int) -> list[int]:
    """The ids of ``sizes`` whose raw messages together fit ``budget`` bytes; at least the first."""
    admitted: list[int] = []
    total = 0
    for receipt_id, size in sizes:
        total += size
        if admitted and total > budget:
            break
        admitted.append(receipt_id)
    return admitted


class _MemberFailed(Exception):
    def __init__(self, receipt_id: int, error: Exception) -> None:
        super().__init__(receipt_id)
        self.receipt_id, self.error = receipt_id, error


def _mark_processed(receipt: Receipt, arrival: Arrival, *, now: datetime) -> None:
    if receipt.message_id is None and arrival.message is not None:
        receipt.message_id = arrival.message.id
    receipt.status = ReceiptStatus.PROCESSED.value
    receipt.processed_at = now
    receipt.next_attempt_at = None
    receipt.last_error = None


def _log_parked(receipt_id: int, exc: BaseException, attempts: int, retry_at: datetime | None) -> None:
    level = logging.WARNING if isinstance(exc, UnprocessableReceipt) else logging.ERROR
    # The exception type only: its text may quote the client's data.
    log.log(
        level,
        "receipt %s parked (attempt %s, %s): %s",
        receipt_id,
        attempts,
        "retry at " + retry_at.isoformat() if retry_at else "no more automatic retries",
        type(exc).__name__,
    )


def park(
    session: Session, *, receipt_id: int, exc: BaseException, retry: RetrySettings, now: datetime
) -> Receipt | None:
    """Count a failed attempt on the receipt: parked with its error, due again after a pause until
    the attempts are used up. None when there is nothing to park: the receipt is gone, or another
    worker processed it meanwhile (parsing happens before the claim)."""
    receipt = session.get(Receipt, receipt_id)
    if receipt is None or receipt.status == ReceiptStatus.PROCESSED.value:
        return None
    parked = ReceiptStatus.PARKED.value
    count_failure(receipt, exc, retry=retry, now=now, pending=parked, given_up=parked)
    session.add(receipt)
    return receipt
