"""A link between an e-mail contact and a phone contact that the service suggests to staff
(ingest/pipeline/link_suggest.py): the number seen in the e-mail's text, or the same name.
Staff accept it (the contacts are linked, ingest/inquiries/contact_links.py) or dismiss it; one
row per pair, so a dismissed pair is never suggested again."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class SuggestionState(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"


class SuggestionReason(StrEnum):
    PHONE_IN_TEXT = "phone_in_text"  # the phone contact's number in the e-mail's text (a signature)
    SAME_NAME = "same_name"  # the same name (storage/names.py) on both contacts


class ContactLinkSuggestion(SQLModel, table=True):
    __tablename__ = "contact_link_suggestion"
    __table_args__ = (
        UniqueConstraint("email_contact_id", "phone_contact_id", name="uq_contact_link_suggestion_pair"),
        Index("ix_contact_link_suggestion_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email_contact_id: int = Field(foreign_key="contact.id")
    phone_contact_id: int = Field(foreign_key="contact.id")
    reason: str = Field(sa_column=Column(String(16), nullable=False))
    # The message that showed it (the e-mail with the number, or the one that brought the name).
    message_id: int | None = Field(default=None, foreign_key="message.id")
    state: str = Field(default=SuggestionState.OPEN.value, sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    decided_by: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
