"""Tables of the Twilio channels (WhatsApp, SMS), kept apart from the shared model.

``MessageStatus`` keeps every delivery status callback Twilio sent for a message
we sent (one row per MessageSid and status, so a retried callback is stored
once). A callback can arrive before the outbox row knows its MessageSid; the
row is linked when the sender records the sid.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow

# How far a message has got; a callback never moves a message back (callbacks can arrive
# out of order). failed and undelivered are final.
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "canceled": 5,
    "undelivered": 5,
    "failed": 5,
}
FAILED_STATUSES = ("failed", "undelivered", "canceled")


class MessageStatus(SQLModel, table=True):
    __tablename__ = "twilio_message_status"
    __table_args__ = (
        UniqueConstraint("message_sid", "status", name="uq_twilio_message_status_sid_status"),
        Index("ix_twilio_message_status_outbox", "outbox_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_sid: str = Field(sa_column=Column(String(64), nullable=False))
    status: str = Field(sa_column=Column(String(32), nullable=False))
    error_code: str | None = Field(default=None, sa_column=Column(String(16)))
    outbox_id: int | None = Field(default=None)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class MediaFetch(SQLModel, table=True):
    """A media item (image, voice note, document) a client sent through Twilio, to be downloaded.

    The webhook only stores the form body; the pipeline records each ``MediaUrlN`` as an
    attachment without bytes and one of these rows. The media fetcher downloads it outside any
    request, with the account's credentials, retrying with backoff; ``status`` is ``pending``,
    ``fetched`` or ``failed`` (given up: the attachment's omitted reason says why).
    """

    __tablename__ = "media_fetch"
    __table_args__ = (Index("ix_media_fetch_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    attachment_id: int = Field(foreign_key="attachment.id", unique=True)
    url: str = Field(sa_column=Column(String(2000), nullable=False))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    fetched_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
