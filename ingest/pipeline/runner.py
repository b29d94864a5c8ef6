"""From a stored receipt to a routed inquiry with its staff notification queued.

Receipts are a work queue (ingest/queues/runner.py). One receipt is processed in one
transaction: the receipt is claimed, the channel normalises it, and the named steps
(ingest/pipeline/steps.py) run in order until one decides what became of it: deduplicated on
the channel's natural id, kept as automatic mail, taken as a staff reply, or threaded into an
open inquiry or a new routed one, with its message, attachments, events and outbox rows. A
failure rolls all of it back and parks the receipt with its error, to be retried.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlmodel import Session

from channels.base import Channel, UnprocessableReceipt
from ingest.config import RetrySettings
from ingest.outgoing.notices import Notices
from ingest.pipeline.arrival import Arrival, Office, Outcome
from ingest.pipeline.staff_proof import StaffProof
from ingest.pipeline.steps import run_steps
from ingest.pipeline.storable import storable
from ingest.queues.runner import count_failure, run_batch
from router.deadlines import DeadlinePolicy
from router.route import Router
from storage import repo
from storage.db import SessionFactory, transaction
from storage.models import Receipt, ReceiptStatus

log = logging.getLogger(__name__)

__all__ = ["Outcome", "Pipeline", "park", "storable"]

WAITING = (ReceiptStatus.PENDING.value, ReceiptStatus.PARKED.value)


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
        )

    def process_due(self) -> int:
        """Process one batch of due receipts; returns how many were looked at."""
        return run_batch(self)

    def claim(self) -> list[int]:
        # No lease: a receipt is claimed inside the transaction that processes it.
        with self.sessions() as session:
            return repo.due_receipt_ids(session, now=self.clock(), limit=self.retry.batch_size)

    def attempt(self, receipt_id: int) -> None:
        self.process(receipt_id)

    def process_all(self, receipt_ids: Iterable[int]) -> Counter[Outcome]:
        """Process these receipts now, in order (``ingest import-calls``); how many ended how."""
        return Counter(self.process(receipt_id) for receipt_id in receipt_ids)

    def process(self, receipt_id: int) -> Outcome:
        try:
            # Parsing needs no lock: done before the write transaction, so that on SQLite the
            # receivers waiting to commit are not held up by it.
            with self.sessions() as session:
                receipt = session.get(Receipt, receipt_id)
            if receipt is None or receipt.status not in WAITING:
                return Outcome.SKIPPED
            channel = self.channels.get(receipt.channel)
            if channel is None:
                raise UnprocessableReceipt(f"no channel adapter named {receipt.channel!r}")
            inbound = storable(channel.normalise(receipt.raw, receipt.meta))
            with transaction(self.sessions) as session:
                if not repo.claim_receipt(session, receipt_id=receipt_id, now=self.clock()):
                    return Outcome.SKIPPED
                claimed = session.get(Receipt, receipt_id)
                assert claimed is not None
                arrival = Arrival(
                    session=session, receipt=claimed, inbound=inbound, now=self.clock(), office=self.office
                )
                outcome, decided_by = run_steps(arrival)
        except Exception as exc:  # noqa: BLE001 - any failure parks the receipt, none is lost
            self._park(receipt_id, exc)
            return Outcome.PARKED
        if arrival.queued:
            self.on_outbox()
        if any(item.fetch_url for item in inbound.attachments):
            self.on_media()
        log.info("receipt %s processed: %s (decided by %s)", receipt_id, outcome.value, decided_by)
        return outcome

    def _park(self, receipt_id: int, exc: Exception) -> None:
        with transaction(self.sessions) as session:
            receipt = park(session, receipt_id=receipt_id, exc=exc, retry=self.retry, now=self.clock())
            if receipt is None:
                return
            attempts, retry_at = receipt.attempts, receipt.next_attempt_at
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
