"""From a stored receipt to a routed inquiry with its staff notification queued.

One receipt is processed in one transaction: the receipt is claimed, the
channel normalises it, the message is deduplicated on the channel's natural
id, threaded into an open inquiry or given a new one, routed, and the inquiry,
message, attachments, events and outbox rows are written together. A failure
rolls all of it back and parks the receipt with its error, to be retried.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from channels.base import Channel, InboundMessage, UnprocessableReceipt
from channels.email_quote import split_reply
from ingest.config import RetrySettings
from ingest.inquiries.answering import mark_answered
from ingest.inquiries.clock import resume_clock
from ingest.inquiries.opening import create_inquiry, record_routing, situation
from ingest.outgoing.notices import Notices
from ingest.queues.backoff import backoff_delay
from router.deadlines import DeadlinePolicy
from router.route import Router
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
    ReceiptStatus,
)
from storage.twilio_models import MediaFetch

log = logging.getLogger(__name__)

# Outbox kinds that went to staff: a reply to one of them is a staff reply.
STAFF_KINDS = ("staff_", "deadline_")

MAX_ERROR_CHARS = 4000


def storable(inbound: InboundMessage) -> InboundMessage:
    """The message with every string PostgreSQL can store: NUL characters (broken mailers, fuzzed
    webhooks) would fail the insert, in the text as much as in a filename or a WhatsApp id."""
    return _without_nul(inbound)  # type: ignore[no-any-return]


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, tuple):
        return tuple(_without_nul(v) for v in value)
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, Mapping):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _without_nul(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


class Outcome(StrEnum):
    NEW_INQUIRY = "new_inquiry"
    THREADED = "threaded"
    DUPLICATE = "duplicate"
    AUTOMATIC = "automatic"  # an auto-reply or bounce that belongs to no inquiry
    ANSWERED = "answered"  # the responsible employee's reply, sent on to the client
    NOTE = "note"  # a reply from someone else: kept as an internal note
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
    # Called after a commit that queued media to download.
    on_media: Callable[[], None] = lambda: None

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
            # Parsing needs no lock: done before the write transaction, so that on SQLite the
            # receivers waiting to commit are not held up by it.
            with self.sessions() as session:
                receipt = session.get(Receipt, receipt_id)
            if receipt is None or receipt.status not in (ReceiptStatus.PENDING.value, ReceiptStatus.PARKED.value):
                return Outcome.SKIPPED
            channel = self.channels.get(receipt.channel)
            if channel is None:
                raise UnprocessableReceipt(f"no channel adapter named {receipt.channel!r}")
            inbound = storable(channel.normalise(receipt.raw, receipt.meta))
            with transaction(self.sessions) as session:
                if not repo.claim_receipt(session, receipt_id=receipt_id, now=self.clock()):
                    return Outcome.SKIPPED
                receipt = session.get(Receipt, receipt_id)
                assert receipt is not None
                outcome, queued = self._store(session, receipt, inbound)
        except Exception as exc:  # noqa: BLE001 - any failure parks the receipt, none is lost
            self._park(receipt_id, exc)
            return Outcome.PARKED
        if queued:
            self.on_outbox()
        if any(item.fetch_url for item in inbound.attachments):
            self.on_media()
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
        now = self.clock()
        if inbound.automatic:
            return self._automatic(session, receipt, inbound, now), False
        staff_reply = self._staff_reply_target(session, inbound)
        if staff_reply is not None:
            return self._staff_reply(session, receipt, inbound, *staff_reply, now=now), True

        contact = self._contact_for(session, inbound)
        inquiry = self._thread_target(session, inbound, contact)

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
                data={"message_id": message.id, "channel": inbound.channel},
            )
            if inquiry.status == InquiryStatus.WAITING_CLIENT.value:
                resume_clock(
                    session, inquiry=inquiry, calendar=self.router.calendar, policy=self.deadline_policy, now=now
                )
            elif inquiry.status in (InquiryStatus.ANSWERED.value, InquiryStatus.CLOSED.value):
                repo.add_event(session, inquiry_id=inquiry.id, type="reopened", at=now, data={"was": inquiry.status})
                inquiry.status = InquiryStatus.OPEN.value
            inquiry.updated_at = now
            session.add(inquiry)

        employee = next((e for e in employees.values() if e.id == inquiry.employee_id), None)
        queued = False
        if employee is not None:
            self.notices.staff(
                session,
                inquiry=inquiry,
                contact=contact,
                message=message,
                employee=employee,
                follow_up=follow_up,
                now=now,
            )
            if not follow_up:
                self.notices.client_ack(
                    session, inquiry=inquiry, contact=contact, message=message, employee=employee, now=now
                )
            queued = True
        return (Outcome.THREADED if follow_up else Outcome.NEW_INQUIRY), queued

    # -- automatic mail ----------------------------------------------------------------------

    def _automatic(self, session: Session, receipt: Receipt, inbound: InboundMessage, now: datetime) -> Outcome:
        """Bounces and auto-replies: kept with the inquiry they refer to; never an inquiry, never answered."""
        inquiry = repo.inquiry_for_references(session, external_ids=inbound.refers_to)
        outcome = {"automatic": inbound.automatic, "why": inbound.automatic_why}
        if inquiry is None:
            receipt.meta = {**receipt.meta, "outcome": outcome}
            session.add(receipt)
            return Outcome.AUTOMATIC
        assert inquiry.id is not None
        message = self._add_message(session, inquiry, inbound, receipt, direction="note")
        data: dict[str, object] = {**outcome, "message_id": message.id}
        if inbound.automatic == "bounce":
            bounced = repo.outbox_by_external_ids(session, external_ids=inbound.refers_to)
            for row in bounced:
                contact = repo.find_contact_by_email(session, email=row.recipient)
                if contact is not None and contact.email_undeliverable_at is None:
                    contact.email_undeliverable_at = now
                    session.add(contact)
            data["bounced"] = [{"outbox_id": row.id, "kind": row.kind} for row in bounced]
        repo.add_event(session, inquiry_id=inquiry.id, type=f"automatic_{inbound.automatic}", at=now, data=data)
        receipt.meta = {**receipt.meta, "outcome": outcome}
        session.add(receipt)
        return Outcome.THREADED

    # -- staff answering by e-mail ------------------------------------------------------------

    def _staff_reply_target(self, session: Session, inbound: InboundMessage) -> tuple[Inquiry, Employee | None] | None:
        """The inquiry a reply to one of our staff messages belongs to, and the employee who wrote it."""
        if inbound.channel != "email":
            return None
        inquiry = None
        for token in self.notices.tokens_in(inbound.recipients):
            inquiry = repo.inquiry_by_token(session, token=token)
            if inquiry is not None:
                break
        if inquiry is None:
            for row in repo.outbox_by_external_ids(session, external_ids=inbound.refers_to):
                if row.inquiry_id is not None and row.kind.startswith(STAFF_KINDS):
                    inquiry = session.get(Inquiry, row.inquiry_id)
                    break
        if inquiry is None:
            return None
        return inquiry, repo.employee_by_email(session, email=inbound.sender_address)

    def _staff_reply(
        self,
        session: Session,
        receipt: Receipt,
        inbound: InboundMessage,
        inquiry: Inquiry,
        author: Employee | None,
        *,
        now: datetime,
    ) -> Outcome:
        """From the responsible employee: the answer, sent to the client. From anyone else: a note."""
        assert inquiry.id is not None
        new_text, _quoted = split_reply(inbound.text)
        responsible = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
        contact = session.get(Contact, inquiry.contact_id)
        assert contact is not None
        is_answer = author is not None and responsible is not None and author.id == responsible.id
        message = self._add_message(
            session, inquiry, inbound, receipt, direction="out" if is_answer else "note", text=new_text
        )
        if not is_answer:
            why = (
                f"atbildēt klientam var tikai atbildīgais darbinieks ({responsible.name} {responsible.surname})"
                if responsible
                else "pieprasījumam nav atbildīgā darbinieka"
            )
            repo.add_event(
                session,
                inquiry_id=inquiry.id,
                type="note_added",
                at=now,
                actor=author.key if author else "unknown-sender",
                data={"message_id": message.id, "relayed": False, "why": why},
            )
            tell = author or responsible
            if tell is not None:
                self.notices.staff_message(
                    session,
                    kind="staff_reply_not_relayed",
                    inquiry=inquiry,
                    employee=tell,
                    subject=f"[{inquiry.reference}] Atbilde netika nosūtīta klientam",
                    text=(
                        f"Jūsu vēstule par pieprasījumu {inquiry.reference} netika nosūtīta klientam: {why}.\n"
                        "Tā ir saglabāta pieprasījumā kā iekšēja piezīme.\n"
                    ),
                    now=now,
                )
            return Outcome.NOTE
        assert author is not None
        sent = self.notices.client_answer(session, inquiry=inquiry, contact=contact, text=new_text, now=now)
        mark_answered(
            session, inquiry=inquiry, actor=author.key, message_id=message.id, sent=sent, now=now, via="email"
        )
        return Outcome.ANSWERED

    def _contact_for(self, session: Session, inbound: InboundMessage) -> Contact:
        if inbound.channel in ("sms", "whatsapp", "phone"):
            return self._phone_contact_for(session, inbound)
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

    def _phone_contact_for(self, session: Session, inbound: InboundMessage) -> Contact:
        """SMS and WhatsApp: one contact per E.164 number (``whatsapp:`` stripped), whichever channel."""
        phone = inbound.sender_address.removeprefix("whatsapp:")
        whatsapp_id = None
        if inbound.channel == "whatsapp":
            whatsapp_id = str(inbound.extra.get("whatsapp_id") or "") or None
        contact = repo.find_contact_by_phone(session, phone=phone, whatsapp_id=whatsapp_id)
        if contact is None:
            contact = Contact(name=inbound.sender_name, phone=phone, whatsapp_id=whatsapp_id)
            session.add(contact)
            session.flush()
            return contact
        # Fill in what is missing; the WhatsApp profile name only when the contact has no name.
        if not contact.phone:
            contact.phone = phone
        if whatsapp_id and not contact.whatsapp_id:
            contact.whatsapp_id = whatsapp_id
        if not contact.name and inbound.sender_name:
            contact.name = inbound.sender_name
        session.add(contact)
        return contact

    def _thread_target(self, session: Session, inbound: InboundMessage, contact: Contact) -> Inquiry | None:
        inquiry = repo.inquiry_for_references(session, external_ids=inbound.refers_to)
        if inquiry is not None:
            return inquiry
        # SMS, WhatsApp and calls have no subject or references: a client's next message (or a
        # repeated missed call) on the same channel belongs to their open inquiry there.
        if inbound.channel in ("sms", "whatsapp", "phone") and contact.id is not None:
            return repo.open_inquiry_on_channel(session, contact_id=contact.id, channel=inbound.channel)
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
            situation=situation(
                session, calendar=self.router.calendar, contact=contact, received_at=inbound.received_at
            ),
            sender_name=inbound.sender_name,
        )
        employee = employees.get(decision.employee_key)
        inquiry = create_inquiry(
            session,
            reference_prefix=self.reference_prefix,
            tz=self.tz,
            contact=contact,
            received_at=inbound.received_at,
            now=now,
            channel=inbound.channel,
            topic=decision.topic_key,
            kind=decision.kind,
            language=decision.language,
            complexity=decision.complexity,
            subject=inbound.subject,
            employee_id=employee.id if employee else None,
            due_at=decision.due_at,
        )
        assert inquiry.id is not None
        repo.add_event(session, inquiry_id=inquiry.id, type="received", at=now, data={"channel": inbound.channel})
        record_routing(
            session,
            inquiry=inquiry,
            employee_key=decision.employee_key,
            rule=decision.rule,
            facts=decision.facts,
            calendar=self.router.calendar,
            policy=self.deadline_policy,
            now=now,
        )
        if employee is None:
            log.error("inquiry %s: routed employee %s is not in the database", inquiry.reference, decision.employee_key)
        return inquiry

    def _add_message(
        self,
        session: Session,
        inquiry: Inquiry,
        inbound: InboundMessage,
        receipt: Receipt,
        *,
        direction: str = "in",
        text: str | None = None,
    ) -> Message:
        message = Message(
            inquiry_id=inquiry.id,  # type: ignore[arg-type]
            direction=direction,
            channel=inbound.channel,
            external_id=inbound.external_id,
            sender=inbound.sender_address,
            sender_name=inbound.sender_name,
            subject=inbound.subject,
            text=inbound.text if text is None else text,
            received_at=inbound.received_at,
            receipt_id=receipt.id,
            refers_to=list(inbound.refers_to),
        )
        session.add(message)
        session.flush()
        for item in inbound.attachments:
            attachment = Attachment(
                message_id=message.id,  # type: ignore[arg-type]
                filename=item.filename,
                content_type=item.content_type,
                size=item.size,
                sha256=hashlib.sha256(item.data).hexdigest() if item.data is not None else "",
                data=item.data,
                omitted_reason=item.omitted_reason,
            )
            session.add(attachment)
            if item.fetch_url and item.data is None:
                session.flush()
                session.add(
                    MediaFetch(attachment_id=attachment.id, url=item.fetch_url, next_attempt_at=inbound.received_at)
                )
        receipt.message_id = message.id
        session.add(receipt)
        return message
