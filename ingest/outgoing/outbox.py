"""Delivering what the outbox holds, with retries.

Rows are claimed with a lease before sending, so a process that dies while
sending leaves rows that are taken again once the lease runs out. Delivery is
therefore at least once; every retry carries the same Message-ID, so a
receiving system can recognise a repeat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError

from ingest.config import RetrySettings
from ingest.outgoing.mail_transport import MailTransport, PermanentFailure, TemporaryFailure, build_email
from ingest.queues.backoff import backoff_delay
from storage import repo
from storage.db import SessionFactory, transaction
from storage.models import Outbox, OutboxStatus

log = logging.getLogger(__name__)

# How long an attempt's outcome is kept trying to be recorded while the database is away.
RECORD_PATIENCE_SECONDS = 120.0


@dataclass
class OutboxSender:
    sessions: SessionFactory
    transports: Mapping[str, MailTransport]  # by channel
    retry: RetrySettings
    clock: Callable[[], datetime]

    def deliver_due(self) -> int:
        """Send one batch of due rows; returns how many were tried."""
        with transaction(self.sessions) as session:
            rows = repo.claim_outbox(
                session,
                now=self.clock(),
                lease=timedelta(seconds=self.retry.lease_seconds),
                limit=self.retry.batch_size,
            )
        for row in rows:
            self._deliver(row)
        return len(rows)

    def _deliver(self, row: Outbox) -> None:
        if row.lease_until is not None and row.lease_until <= self.clock():
            return  # a slow batch outlived this row's lease: another process may be sending it now
        transport = self.transports.get(row.channel)
        error: Exception | None = None
        if transport is None:
            error = PermanentFailure(f"no transport for channel {row.channel!r}")
        else:
            try:
                transport.send(build_email(row.payload), name=f"{row.id:08d}-{row.kind}")
            except (TemporaryFailure, PermanentFailure) as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - an unexpected error must not lose the row
                error = TemporaryFailure(f"{type(exc).__name__}: {exc}")
        self._record(row, error)

    def _record(self, row: Outbox, error: Exception | None) -> None:
        """Record the attempt. The message may already be with the relay, so a database that is
        away for a while (a restart, a fail-over) is waited for rather than given up on: the row
        would otherwise be sent a second time once its lease runs out. While the database is
        away no other process can claim the row either; the pauses stay short so that this
        process records it first when the database is back."""
        give_up_at = time.monotonic() + max(self.retry.lease_seconds, RECORD_PATIENCE_SECONDS)
        pause = 0.2
        while True:
            try:
                self._record_once(row, error)
                return
            except DBAPIError as exc:
                if time.monotonic() + pause > give_up_at:
                    raise
                log.warning(
                    "outbox %s: cannot record the attempt (%s); trying again in %.1f s",
                    row.id,
                    type(exc).__name__,
                    pause,
                )
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _record_once(self, row: Outbox, error: Exception | None) -> None:
        now = self.clock()
        with transaction(self.sessions) as session:
            current = session.get(Outbox, row.id)
            if current is None or current.status == OutboxStatus.WITHDRAWN.value:
                return  # erased meanwhile: neither "sent" nor an error text that may quote the address
            if current.status != OutboxStatus.SENDING.value or current.lease_until != row.lease_until:
                # Recorded already (a commit that succeeded but reported an error), or the lease
                # ran out and another process took the row over: its record is the one that counts.
                return
            current.attempts += 1
            current.lease_until = None
            if error is None:
                current.status = OutboxStatus.SENT.value
                current.sent_at = now
                current.last_error = None
                if current.inquiry_id is not None:
                    repo.add_event(
                        session,
                        inquiry_id=current.inquiry_id,
                        type="notified",
                        at=now,
                        data={"outbox_id": current.id, "kind": current.kind, "attempts": current.attempts},
                    )
                log.info("outbox %s sent (%s, attempt %s)", current.id, current.kind, current.attempts)
            else:
                current.last_error = str(error)[:4000]
                final = isinstance(error, PermanentFailure) or current.attempts >= self.retry.max_attempts
                if final:
                    current.status = OutboxStatus.FAILED.value
                    current.next_attempt_at = None
                    if current.inquiry_id is not None:
                        repo.add_event(
                            session,
                            inquiry_id=current.inquiry_id,
                            type="notification_failed",
                            at=now,
                            data={"outbox_id": current.id, "kind": current.kind, "error": current.last_error},
                        )
                    log.error("outbox %s failed for good after %s attempts", current.id, current.attempts)
                else:
                    delay = backoff_delay(
                        current.attempts, self.retry.backoff_base_seconds, self.retry.backoff_max_seconds
                    )
                    current.status = OutboxStatus.PENDING.value
                    current.next_attempt_at = now + timedelta(seconds=delay)
                    log.warning(
                        "outbox %s not sent (attempt %s), retry in %.0f s: %s",
                        current.id,
                        current.attempts,
                        delay,
                        type(error).__name__,
                    )
            session.add(current)
