"""From a stored receipt to a routed inquiry with its staff notification queued.

One receipt is processed in one transaction: the receipt is claimed, the
channel normalises it, the message is deduplicated on the channel's natural
id, threaded into an open inquiry or given a new one, routed, and the inquiry,
message, attachments, events and outbox rows are written together. A failure
rolls all of it back and parks the receipt with its error, to be retried.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlmodel import Session

from channels.base import Channel, InboundMessage, UnprocessableReceipt
from ingest.backoff import backoff_delay
from ingest.config import RetrySettings
from ingest.deadlines import resume_clock, schedule_alarms
from ingest.notices import Notices
from router.deadlines import DeadlinePolicy
from router.route import Load, Router, Situation
from storage import repo
from storage.db import SessionFactory, transaction
from storage.models import (
    Attachment,
    Contact,
    Employee,
    Inquiry,
    InquiryStatus,
    Message,
    Receipt,
)

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 4000


class Outcome(StrEnum):
    NEW_INQUIRY = "new_inquiry"
    THREADED = "threaded"
    DUPLICATE = "duplicate"
    AUTOMATIC = "automatic"  # an auto-reply or bounce that belongs to no inquiry
    SKIPPED = "skipped"  # already processed by another worker
    PARKED = "parked"


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

    # -- driving -----------------------------------------------------------------------------

    def process_due(self) -> int:
        """Process one batch of due receipts; returns how many were looked at."""
        with self.sessions() as session:
            ids = repo.due_receipt_ids(session, now=self.clock(), limit=self.retry.batch_size)
        for receipt_id in ids:
            self.process(receipt_id)
        return len(ids)

    def process(self, receipt_id: int) -> Outcome:
        queued = False
        try:
            with transaction(self.sessions) as session:
                if not repo.claim_receipt(session, receipt_id=receipt_id, now=self.clock()):
                    return Outcome.SKIPPED
                receipt = session.get(Receipt, receipt_id)
                assert receipt is not None
                channel = self.channels.get(receipt.channel)
                if channel is None:
                    raise UnprocessableReceipt(f"no channel adapter named {receipt.channel!r}")
                inbound = channel.normalise(receipt.raw, receipt.meta)
                outcome, queued = self._store(session, receipt, inbound)
        except Exception as exc:  # noqa: BLE001 - any failure parks the receipt, none is lost
            self._park(receipt_id, exc)
            return Outcome.PARKED
        if queued:
            self.on_outbox()
        log.info("receipt %s processed: %s", receipt_id, outcome.value)
        return outcome

    def _park(self, receipt_id: int, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        with transaction(self.sessions) as session:
            receipt = session.get(Receipt, receipt_id)
            attempts = (receipt.attempts if receipt else 0) + 1
            retry_at: datetime | None = None
            if attempts < self.retry.max_attempts:
                retry_at = self.clock() + timedelta(
                    seconds=backoff_delay(attempts, self.retry.backoff_base_seconds, self.retry.backoff_max_seconds)
                )
            repo.park_receipt(session, receipt_id=receipt_id, error=error, next_attempt_at=retry_at)
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

    # -- the work of one receipt -------------------------------------------------------------

    def _store(self, session: Session, receipt: Receipt, inbound: InboundMessage) -> tuple[Outcome, bool]:
        existing = repo.message_by_external_id(session, channel=inbound.channel, external_id=inbound.external_id)
        if existing is not None:
            receipt.message_id = existing.id
            session.add(receipt)
            return Outcome.DUPLICATE, False

        contact = self._contact_for(session, inbound)
        inquiry = self._thread_target(session, inbound, contact)
        now = self.clock()
        if inquiry is None and inbound.automatic:
            # Automatic mail opens no inquiry; the receipt stays stored for inspection.
            receipt.meta = {**receipt.meta, "outcome": "automatic message, no inquiry"}
            session.add(receipt)
            return Outcome.AUTOMATIC, False

        employees = repo.employees_by_key(session)
        follow_up = inquiry is not None
        if inquiry is None:
            inquiry = self._open_inquiry(session, inbound, contact, employees, now)

        message = self._add_message(session, inquiry, inbound, receipt)
        assert inquiry.id is not None
        if follow_up:
            repo.add_event(
                session,
                inquiry_id=inquiry.id,
                type="message_received",
                at=now,
                data={"message_id": message.id, "channel": inbound.channel, "automatic": inbound.automatic},
            )
            if inquiry.status == InquiryStatus.WAITING_CLIENT.value and not inbound.automatic:
                resume_clock(
                    session, inquiry=inquiry, calendar=self.router.calendar, policy=self.deadline_policy, now=now
                )
            elif inquiry.status in (InquiryStatus.ANSWERED.value, InquiryStatus.CLOSED.value) and not inbound.automatic:
                repo.add_event(session, inquiry_id=inquiry.id, type="reopened", at=now, data={"was": inquiry.status})
                inquiry.status = InquiryStatus.OPEN.value
            inquiry.updated_at = now
            session.add(inquiry)
            if inbound.automatic:
                return Outcome.THREADED, False

        employee = next((e for e in employees.values() if e.id == inquiry.employee_id), None)
        queued = False
        if employee is not None:
            self.notices.staff(
                session, inquiry=inquiry, contact=contact, message=message, employee=employee, follow_up=follow_up, now=now
            )
            if not follow_up:
                self.notices.client_ack(
                    session, inquiry=inquiry, contact=contact, message=message, employee=employee, now=now
                )
            queued = True
        return (Outcome.THREADED if follow_up else Outcome.NEW_INQUIRY), queued

    def _contact_for(self, session: Session, inbound: InboundMessage) -> Contact:
        address = inbound.sender_address.lower()
        contact = repo.find_contact_by_email(session, email=address) if inbound.channel == "email" else None
        if contact is None:
            contact = Contact(name=inbound.sender_name, email=address if inbound.channel == "email" else None)
            session.add(contact)
            session.flush()
        elif not contact.name and inbound.sender_name:
            contact.name = inbound.sender_name
            session.add(contact)
        return contact

    def _thread_target(self, session: Session, inbound: InboundMessage, contact: Contact) -> Inquiry | None:
        inquiry = repo.inquiry_for_references(session, external_ids=inbound.refers_to)
        if inquiry is not None:
            return inquiry
        # A reference tag in the subject joins only an inquiry of the same client: references
        # are sequential and easy to guess.
        match = repo.reference_pattern(self.reference_prefix).search(inbound.subject or "")
        if match:
            tagged = repo.inquiry_by_reference(session, reference=match.group(1))
            if tagged is not None and tagged.contact_id == contact.id:
                return tagged
        return None

    def _open_inquiry(
        self,
        session: Session,
        inbound: InboundMessage,
        contact: Contact,
        employees: Mapping[str, Employee],
        now: datetime,
    ) -> Inquiry:
        decision = self.router.decide(
            subject=inbound.subject,
            text=inbound.text,
            received_at=inbound.received_at,
            attachments=len(inbound.attachments),
            situation=self._situation(session, contact, inbound.received_at),
        )
        employee = employees.get(decision.employee_key)
        year = inbound.received_at.astimezone(self.tz).year
        number = repo.next_counter(session, name=f"reference-{year}")
        inquiry = Inquiry(
            reference=f"{self.reference_prefix}-{year}-{number:06d}",
            token=secrets.token_urlsafe(18),
            contact_id=contact.id,  # type: ignore[arg-type]
            channel=inbound.channel,
            topic=decision.topic_key,
            kind=decision.kind,
            language=decision.language,
            complexity=decision.complexity,
            subject=inbound.subject,
            employee_id=employee.id if employee else None,
            received_at=inbound.received_at,
            due_at=decision.due_at,
            created_at=now,
            updated_at=now,
        )
        session.add(inquiry)
        if contact.preferred_language is None:
            contact.preferred_language = decision.language
            session.add(contact)
        session.flush()
        assert inquiry.id is not None
        repo.add_event(
            session, inquiry_id=inquiry.id, type="received", at=now, data={"channel": inbound.channel}
        )
        repo.add_event(
            session,
            inquiry_id=inquiry.id,
            type="routed",
            at=now,
            data={
                "employee": decision.employee_key,
                "rule": decision.rule,
                "facts": decision.facts,
                "due_at": decision.due_at.isoformat(),
            },
        )
        schedule_alarms(
            session,
            inquiry=inquiry,
            calendar=self.router.calendar,
            policy=self.deadline_policy,
            counted_from=self.router.calendar.start_of_counting(inbound.received_at),
        )
        if employee is None:
            log.error("inquiry %s: routed employee %s is not in the database", inquiry.reference, decision.employee_key)
        return inquiry

    def _situation(self, session: Session, contact: Contact, received_at: datetime) -> Situation:
        """What the router needs to know from storage: who is away, loads, the client's employee."""
        local_day = received_at.astimezone(self.tz).date()
        end_of_day = datetime.combine(local_day, time.max, tzinfo=self.tz)
        loads = repo.load_by_employee(session, due_by=end_of_day)
        previous = repo.client_open_inquiry(session, contact_id=contact.id) if contact.id else None
        return Situation(
            absent=frozenset(repo.absent_on(session, day=local_day)),
            load={k: Load(open=n, due_soon=d) for k, (n, d) in loads.items()},
            client_employee=previous[0] if previous else None,
            client_topic=previous[1] if previous else None,
        )

    def _add_message(self, session: Session, inquiry: Inquiry, inbound: InboundMessage, receipt: Receipt) -> Message:
        message = Message(
            inquiry_id=inquiry.id,  # type: ignore[arg-type]
            direction="in",
            channel=inbound.channel,
            external_id=inbound.external_id,
            sender=inbound.sender_address,
            sender_name=inbound.sender_name,
            subject=inbound.subject,
            text=inbound.text,
            received_at=inbound.received_at,
            receipt_id=receipt.id,
            refers_to=list(inbound.refers_to),
        )
        session.add(message)
        session.flush()
        for item in inbound.attachments:
            session.add(
                Attachment(
                    message_id=message.id,  # type: ignore[arg-type]
                    filename=item.filename,
                    content_type=item.content_type,
                    size=item.size,
                    sha256=hashlib.sha256(item.data).hexdigest() if item.data is not None else "",
                    data=item.data,
                    omitted_reason=item.omitted_reason,
                )
            )
        receipt.message_id = message.id
        session.add(receipt)
        return message
