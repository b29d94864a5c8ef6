"""Delivering what the outbox holds, with retries.

Rows are claimed with a lease before sending, so a process that dies while
sending leaves rows that are taken again once the lease runs out. Delivery is
therefore at least once; every retry carries the same Message-ID, so a
receiving system can recognise a repeat.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ingest.config import RetrySettings
from ingest.outgoing.mail_ahead import MailAhead
from ingest.outgoing.mail_transport import MailTransport, PermanentFailure, build_email
from ingest.pipeline.prepare import PreparingPool
from ingest.queues.runner import count_failure
from storage import event_buffer, repo
from storage.db import SessionFactory, transaction
from storage.models import Outbox, OutboxStatus

log = logging.getLogger(__name__)

# How long an attempt's outcome is kept trying to be recorded while the database is away.
RECORD_PATIENCE_SECONDS = 120.0
# Outcomes are recorded together, after this many sends or this long, whichever comes first. A
# process killed before it records sends those again: with a relay slower than this (a remote one),
# each send is recorded at once and at most the one in flight is repeated; a fast local relay's
# sends share a commit (one WAL sync each on SQLite, about as long as a local send).
RECORD_EVERY = 50
RECORD_AFTER_SECONDS = 0.02


@dataclass(frozen=True)
class Attempted:
    """One send tried: the row as claimed, and its error or the provider's id of the message."""

    row: Outbox
    error: BaseException | None
    provider_id: str | None


@dataclass
class OutboxSender:
    """The outbox as a work queue (ingest/queues/runner.py): claim due rows, send, record."""

    sessions: SessionFactory
    transports: Mapping[str, MailTransport]  # by channel
    retry: RetrySettings
    clock: Callable[[], datetime]
    # Renders a claimed batch's e-mails ahead, in the preparing pool when it has one (render_in).
    mail_ahead: MailAhead = field(default_factory=MailAhead)

    def deliver_due(self) -> int:
        """Send one batch of due rows, recording the outcomes of several sends in one transaction;
        returns how many rows were claimed."""
        rows = self.claim()
        attempted: list[Attempted] = []
        recorded_at = time.monotonic()
        # Rendered ahead: the rows whose transport sends rendered mail (e-mail's; not Twilio's).
        self.mail_ahead.start([row for row in rows if hasattr(self.transports.get(row.channel), "send_rendered")])
        with contextlib.ExitStack() as connections:
            connections.callback(self.mail_ahead.forget)
            # A transport that can keep its connection (the SMTP relay) keeps it for the batch.
            for transport in self.transports.values():
                batch = getattr(transport, "batch", None)
                if batch is not None:
                    connections.enter_context(batch())
            for row in rows:
                if row.lease_until is not None and row.lease_until <= self.clock():
                    break  # a slow batch outlived its lease (the rows share it): another process may have them
                attempted.append(self._try(row))
                # Recorded every so often, not only at the end: a process that dies between sending
                # and recording sends again what it did not record (at least once, never lost).
                if len(attempted) >= RECORD_EVERY or time.monotonic() - recorded_at > RECORD_AFTER_SECONDS:
                    self.record_all(attempted)
                    attempted, recorded_at = [], time.monotonic()
        if attempted:
            self.record_all(attempted)
        return len(rows)

    def claim(self) -> list[Outbox]:
        with transaction(self.sessions) as session:
            return repo.claim_outbox(
                session,
                now=self.clock(),
                lease=timedelta(seconds=self.retry.lease_seconds),
                limit=self.retry.batch_size,
            )

    def _try(self, row: Outbox) -> Attempted:
        try:
            return Attempted(row, None, self.send(row))
        except Exception as exc:  # noqa: BLE001 - recorded on the row: retried or given up, never lost
            return Attempted(row, exc, None)

    def send(self, row: Outbox) -> str | None:
        """Hand the row to its channel's transport; raises TemporaryFailure or PermanentFailure.
        Returns the provider's id of the sent message where it has one (Twilio's MessageSid)."""
        transport = self.transports.get(row.channel)
        if transport is None:
            raise PermanentFailure(f"no transport for channel {row.channel!r}")
        name = f"{row.id:08d}-{row.kind}"
        send_rendered = getattr(transport, "send_rendered", None)
        mail = self.mail_ahead.take(row) if send_rendered is not None else None
        if send_rendered is not None and mail is not None:
            send_rendered(mail, name=name)
            return None
        transport.send(build_email(row.payload), name=name)
        return None

    def render_in(self, pool: PreparingPool | None) -> None:
        """Render outgoing e-mail in these processes from now on (None: in the outbox's own thread)."""
        self.mail_ahead = MailAhead(pool)

    def record_all(self, attempted: Sequence[Attempted]) -> None:
        """Record the attempts, in one transaction. The messages may already be with the relay,
        so a database that is away for a while (a restart, a fail-over) is waited for rather
        than given up on: the rows would otherwise be sent a second time once their lease runs
        out. While the database is away no other process can claim the rows either; the pauses
        stay short so that this process records them first when the database is back."""
        give_up_at = time.monotonic() + max(self.retry.lease_seconds, RECORD_PATIENCE_SECONDS)
        pause = 0.2
        while True:
            try:
                self._record_once(attempted)
                return
            except DBAPIError as exc:
                if time.monotonic() + pause > give_up_at:
                    raise
                log.warning("outbox: cannot record %d attempts (%s); trying again in %.1f s",
                            len(attempted), type(exc).__name__, pause)  # fmt: skip
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _record_once(self, attempted: Sequence[Attempted]) -> None:
        now = self.clock()
        # A plain send (most of them): marked in one statement. A failure, or a Twilio message
        # whose delivery callbacks may have come first, row by row below.
        plain = [item for item in attempted if _plain(item)]
        rest = [item for item in attempted if not _plain(item)]
        with transaction(self.sessions) as session, event_buffer.together(session):
            leased = [(item.row.id or 0, item.row.lease_until) for item in plain]
            for row_id, inquiry_id, kind, attempts in repo.mark_outbox_sent(session, leased=leased, now=now):
                _sent_event(session, row_id=row_id, inquiry_id=inquiry_id, kind=kind, attempts=attempts, now=now)
            current_rows = repo.outbox_rows(session, ids=[item.row.id for item in rest if item.row.id])
            for item in rest:
                current = current_rows.get(item.row.id or 0)
                if current is None or current.status == OutboxStatus.WITHDRAWN.value:
                    continue  # erased meanwhile: neither "sent" nor an error text that may quote the address
                if current.status != OutboxStatus.SENDING.value or current.lease_until != item.row.lease_until:
                    # Recorded already (a commit that succeeded but reported an error), or the lease
                    # ran out and another process took the row over: its record is the one that counts.
                    continue
                current.lease_until = None
                if item.error is None:
                    _sent(session, current, now)
                else:
                    _not_sent(session, current, item.error, retry=self.retry, now=now)
                session.add(current)
                if item.error is None and item.provider_id:
                    # After the row is marked sent: delivery callbacks that already came in (a
                    # failure among them) are applied on top.
                    session.flush()
                    repo.link_message_sid(session, outbox_id=current.id, message_sid=item.provider_id, now=now)  # type: ignore[arg-type]


def _plain(item: Attempted) -> bool:
    return item.error is None and not item.provider_id and item.row.id is not None


def _sent(session: Session, row: Outbox, now: datetime) -> None:
    row.attempts += 1
    row.status = OutboxStatus.SENT.value
    row.sent_at = now
    row.last_error = None
    _sent_event(session, row_id=row.id or 0, inquiry_id=row.inquiry_id, kind=row.kind, attempts=row.attempts, now=now)


def _sent_event(
    session: Session, *, row_id: int, inquiry_id: int | None, kind: str, attempts: int, now: datetime
) -> None:
    if inquiry_id is not None:
        repo.add_event(session, inquiry_id=inquiry_id, type="notified", at=now,
                       data={"outbox_id": row_id, "kind": kind, "attempts": attempts})  # fmt: skip
    log.info("outbox %s sent (%s, attempt %s)", row_id, kind, attempts)


def _not_sent(session: Session, row: Outbox, error: BaseException, *, retry: RetrySettings, now: datetime) -> None:
    given_up = count_failure(
        row, error, retry=retry, now=now, pending=OutboxStatus.PENDING.value, given_up=OutboxStatus.FAILED.value
    )
    if not given_up:
        log.warning(
            "outbox %s not sent (attempt %s), retry at %s: %s",
            row.id,
            row.attempts,
            row.next_attempt_at.isoformat() if row.next_attempt_at else "-",
            type(error).__name__,
        )
        return
    if row.inquiry_id is not None:
        repo.add_event(
            session,
            inquiry_id=row.inquiry_id,
            type="notification_failed",
            at=now,
            data={"outbox_id": row.id, "kind": row.kind, "error": row.last_error},
        )
    log.error("outbox %s failed for good after %s attempts", row.id, row.attempts)
