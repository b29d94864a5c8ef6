"""The one inquiry model, shared by every channel.

A receipt is what a channel received, raw and unprocessed. The pipeline turns
each receipt into a message on an inquiry; an inquiry belongs to a contact and
has one responsible employee at a time. Every state change is an event row, and
everything to be sent goes through the outbox.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, String, Text, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from storage.names import name_key
from storage.types import UTCDateTime, utcnow


class ReceiptStatus(StrEnum):
    PENDING = "pending"  # stored, not yet processed
    PROCESSED = "processed"  # turned into a message (or recognised as a duplicate)
    PARKED = "parked"  # processing failed; error kept; retried while next_attempt_at is set


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"
    FAILED = "failed"  # permanent failure or attempts exhausted
    WITHDRAWN = "withdrawn"  # its content was erased (GDPR, retention) before it was sent; never sent
    # No longer owed before it was sent (a call back's reminder once the call is logged or the
    # inquiry answered or closed: ingest/inquiries/call_back.py); never sent.
    CANCELLED = "cancelled"


class InquiryStatus(StrEnum):
    OPEN = "open"
    WAITING_CLIENT = "waiting_client"
    ANSWERED = "answered"
    CLOSED = "closed"


OPEN_STATUSES = (InquiryStatus.OPEN.value, InquiryStatus.WAITING_CLIENT.value)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    NOTE = "note"
    # Written by a machine on the client's side (an auto-reply, a bounce, a reaction): kept on the
    # inquiry, neither the client's words nor a note of the office.
    AUTOMATIC = "automatic"


class Kind(StrEnum):
    QUESTION = "question"
    REQUEST = "request"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"


class Complexity(StrEnum):
    SIMPLE = "simple"
    COMPLEX = "complex"


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Employee(SQLModel, table=True):
    """Staff as configured; rows are kept in step with the config at start-up."""

    __tablename__ = "employee"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    name: str
    surname: str
    position: str
    email: str = Field(sa_column=Column(String(320), nullable=False))
    phone: str | None = None
    location: str | None = None
    reception_hours: str | None = None
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    supervisor_key: str | None = None
    deputy_key: str | None = None
    active: bool = True
    # employee, supervisor, board or admin (storage/staff_models.py Role); what the staff API allows.
    role: str = Field(default="employee", sa_column=Column(String(16), nullable=False, server_default="employee"))
    # The language they work in: the workspace's default for them and the e-mails written to them.
    language: str = Field(default="lv", sa_column=Column(String(8), nullable=False, server_default="lv"))
    # The dashboard password (`ingest password set`): scrypt$n$r$p$salt$hash (ingest/passwords.py); None: no login.
    password_hash: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))


class Absence(SQLModel, table=True):
    """An employee away (leave, sick): not routed to on those days; from the config or the API."""

    __tablename__ = "absence"
    __table_args__ = (Index("ix_absence_dates", "starts_on", "ends_on"),)

    id: int | None = Field(default=None, primary_key=True)
    employee_key: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    starts_on: date
    ends_on: date
    reason: str = "leave"
    source: str = "api"  # config rows are replaced at every start; api rows are kept
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class DeadlineAlarm(SQLModel, table=True):
    """A moment at which the deadline of an inquiry calls for a message: reminder or escalation.

    Created when the due date is set; the sweep fires each once (``fired_at``
    set in the same transaction as the message it queues), whatever the number
    of scheduler processes.
    """

    __tablename__ = "deadline_alarm"
    __table_args__ = (Index("ix_deadline_alarm_pending", "fired_at", "fire_at"),)

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id", index=True)
    kind: str  # share_left, due_day, overdue, overdue_board
    fire_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    fired_at: datetime | None = _ts()


class JobMarker(SQLModel, table=True):
    """Work done once per key (e.g. one digest per employee per day), across restarts and processes."""

    __tablename__ = "job_marker"

    key: str = Field(sa_column=Column(String(200), primary_key=True))
    done_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Contact(SQLModel, table=True):
    """A client: a person or a company, reachable on any of its channels."""

    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_email", "email"),
        Index("ix_contact_phone", "phone"),
        Index("ix_contact_whatsapp_id", "whatsapp_id"),
        Index("ix_contact_name_key", "name_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = "person"  # person | company
    name: str | None = None
    email: str | None = Field(default=None, sa_column=Column(String(320)))
    phone: str | None = Field(default=None, sa_column=Column(String(32)))
    whatsapp_id: str | None = Field(default=None, sa_column=Column(String(64)))
    preferred_language: str | None = None
    # Set when mail to this address bounced: no more acknowledgements are sent there.
    email_undeliverable_at: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # ``name`` as it is compared with other clients' names (storage/names.py), kept in step with it
    # at every write (:func:`_keep_name_key`); the same name on an e-mail and a phone contact is a
    # link suggested to staff (migration 0016).
    name_key: str | None = Field(default=None, sa_column=Column(String(200)))


@event.listens_for(Contact, "before_insert")
@event.listens_for(Contact, "before_update")
def _keep_name_key(_mapper: Any, _connection: Any, contact: Contact) -> None:
    contact.name_key = name_key(contact.name)


class Inquiry(SQLModel, table=True):
    __tablename__ = "inquiry"
    __table_args__ = (
        Index("ix_inquiry_status_employee", "status", "employee_id"),
        Index("ix_inquiry_status_due", "status", "due_at"),
        Index("ix_inquiry_contact_status", "contact_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    # Random token carried in staff notifications so that replies find their inquiry.
    token: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    contact_id: int = Field(foreign_key="contact.id")
    channel: str
    kind: str = Kind.QUESTION.value
    topic: str | None = None
    complexity: str = Complexity.SIMPLE.value
    language: str | None = None
    subject: str | None = None
    status: str = InquiryStatus.OPEN.value
    employee_id: int | None = Field(default=None, foreign_key="employee.id")
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime | None = _ts()
    first_response_at: datetime | None = _ts()
    answered_at: datetime | None = _ts()
    # Set while the inquiry waits for the client: the deadline clock is stopped.
    clock_paused_at: datetime | None = _ts()
    # Set when the inquiry was merged into another of the same client (ingest/inquiries/merging.py):
    # it is closed, and whatever refers to it (a reply, a reference) is taken to that one.
    merged_into_id: int | None = Field(default=None, foreign_key="inquiry.id")
    # The deadline that passed before the inquiry was reassigned with a new one (the client was told
    # the new one), and who held it then: the miss stays in the figures against them (migration 0014).
    missed_due_at: datetime | None = _ts()
    missed_by_id: int | None = Field(default=None, foreign_key="employee.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Message(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_message_channel_external_id"),
        # Threading looks messages up by external_id alone (In-Reply-To, References): migration 0010.
        Index("ix_message_external_id", "external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id", index=True)
    direction: str
    channel: str
    # The channel's own id (Message-ID, MessageSid, call id): the deduplication key.
    external_id: str = Field(sa_column=Column(String(998), nullable=False))
    sender: str | None = Field(default=None, sa_column=Column(String(320)))
    sender_name: str | None = None
    subject: str | None = Field(default=None, sa_column=Column(Text))
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    receipt_id: int | None = Field(default=None, foreign_key="receipt.id")
    # Ids this message refers to (In-Reply-To, References), for threading.
    refers_to: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str | None = None
    content_type: str
    size: int
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    # Why the bytes are not stored (too large, unreadable); never silently lost.
    omitted_reason: str | None = None


class Event(SQLModel, table=True):
    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    type: str
    actor: str = "system"
    # What ``actor`` names (storage/actors.py ActorKind): only "employee" is an employee's own doing.
    actor_kind: str = Field(default="system", sa_column=Column(String(16), nullable=False, server_default="system"))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Receipt(SQLModel, table=True):
    """What a receiver got from outside, stored before it is acknowledged."""

    __tablename__ = "receipt"
    __table_args__ = (
        UniqueConstraint("channel", "natural_id", name="uq_receipt_channel_natural_id"),
        Index("ix_receipt_status_next_attempt", "status", "next_attempt_at"),
        # Counting by channel and status (/metrics) from the index, without reading raw bytes.
        Index("ix_receipt_channel_status", "channel", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    source: str  # which receiver stored it: smtp, imap, twilio-webhook, ...
    natural_id: str = Field(sa_column=Column(String(998), nullable=False))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = ReceiptStatus.PENDING.value
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime | None = _ts()
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    processed_at: datetime | None = _ts()
    message_id: int | None = None


class Outbox(SQLModel, table=True):
    """A message to send. Rendered when queued, so a retry sends the same bytes."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),
        # The acknowledgement window: rows to this address since a moment (migration 0010).
        Index("ix_outbox_recipient_created", "recipient", "created_at"),
        Index("ix_outbox_channel_status", "channel", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # staff_notification, client_ack, ...
    channel: str  # email, sms, whatsapp
    recipient: str = Field(sa_column=Column(String(320), nullable=False))
    inquiry_id: int | None = Field(default=None, foreign_key="inquiry.id", index=True)
    # The id the sent message carries (an RFC 5322 Message-ID for e-mail), so replies thread.
    external_id: str | None = Field(default=None, sa_column=Column(String(998), index=True))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = OutboxStatus.PENDING.value
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    lease_until: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = _ts()


class Counter(SQLModel, table=True):
    """Named counters, e.g. the per-year sequence of public references."""

    __tablename__ = "counter"

    name: str = Field(primary_key=True, max_length=64)
    value: int = 0


class MailboxState(SQLModel, table=True):
    """How far the IMAP poller has read a mailbox: the folder's UIDVALIDITY and the last UID stored."""

    __tablename__ = "mailbox_state"

    # user@host:port/folder
    mailbox: str = Field(sa_column=Column(String(512), primary_key=True))
    uidvalidity: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
