"""One durable work queue: claim a batch, attempt each item, record the outcome.

The pipeline (receipts), the outbox (outgoing messages) and the media fetcher (Twilio media)
are three queues of rows in the database. The media fetcher is only its step
(:class:`QueueStep`, driven by :func:`run_batch`): which rows are due, the work on one row, and
what success or failure means for it. The pipeline and the outbox drive their own batches, so
that a batch's outcomes are recorded in one transaction (ingest/pipeline/runner.py,
ingest/outgoing/outbox.py). What all three share lives here, so that they retry, give up and
describe an error the same way:

- a failed attempt is counted on the row; the row is tried again after a growing pause
  (:func:`~ingest.queues.backoff.backoff_delay`) until ``max_attempts``, or at once given up
  when the failure says retrying cannot help (:attr:`QueueFailure.final`);
- the error kept on the row is the failure's own text for the queues' own failures
  (:class:`QueueFailure`: the text says it all), ``Type: message`` for anything else,
  cut to :data:`MAX_ERROR_CHARS`;
- a row given up stays in the database (parked receipt, failed outbox row, media not fetched):
  ``ingest doctor`` lists it, ``ingest retry`` queues it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import ClassVar, Protocol, TypeVar

from ingest.config import RetrySettings
from ingest.queues.backoff import backoff_delay

MAX_ERROR_CHARS = 4000

ItemT = TypeVar("ItemT")


class QueueFailure(Exception):
    """A failure the queue's own step raises, with a message that says it all."""

    # True when trying again cannot help (a relay's 5xx, a download over the size limit).
    final: ClassVar[bool] = False


class QueueRow(Protocol):
    """The columns every queue's rows have for their attempts."""

    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None


class QueueStep(Protocol[ItemT]):
    """One queue's own work; :func:`run_batch` drives it."""

    def claim(self) -> Sequence[ItemT]:
        """The due items, taken for this worker (with a lease where the queue has one)."""
        ...

    def attempt(self, item: ItemT) -> None:
        """Do the work of one item and record its outcome; a failure is recorded, not raised."""
        ...


def run_batch(step: QueueStep[ItemT]) -> int:
    """Attempt one batch of due items; returns how many were claimed (0: nothing due)."""
    items = step.claim()
    for item in items:
        step.attempt(item)
    return len(items)


def error_text(exc: BaseException) -> str:
    """The error as kept on the row and shown by ``ingest doctor``."""
    text = str(exc) if isinstance(exc, QueueFailure) else f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


def is_final(exc: BaseException) -> bool:
    return isinstance(exc, QueueFailure) and exc.final


def retry_time(attempts: int, retry: RetrySettings, *, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts; None once they are used up."""
    if attempts >= retry.max_attempts:
        return None
    return now + timedelta(seconds=backoff_delay(attempts, retry.backoff_base_seconds, retry.backoff_max_seconds))


def count_failure(
    row: QueueRow, exc: BaseException, *, retry: RetrySettings, now: datetime, pending: str, given_up: str
) -> bool:
    """Count a failed attempt on ``row``: due again later (status ``pending``), or given up
    (status ``given_up``, no next attempt). Returns True when given up."""
    row.attempts += 1
    row.last_error = error_text(exc)
    row.next_attempt_at = None if is_final(exc) else retry_time(row.attempts, retry, now=now)
    row.status = given_up if row.next_attempt_at is None else pending
    return row.next_attempt_at is None
