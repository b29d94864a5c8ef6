"""Internal notes: staff's own record on an inquiry, never shown to the client."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.inquiries.staff_messages import add_staff_message
from storage import repo
from storage.actors import Actor
from storage.models import Direction, Employee, Inquiry, Message


def add_note(session: Session, *, inquiry: Inquiry, author: Employee, text: str, via: str, now: datetime) -> Message:
    """The note as a message of its own, and the ``note_added`` event."""
    assert inquiry.id is not None
    message = add_staff_message(
        session,
        inquiry=inquiry,
        author=author,
        direction=Direction.NOTE,
        channel=inquiry.channel,
        text=text,
        via=via,
        now=now,
    )
    repo.add_event(
        session,
        inquiry_id=inquiry.id,
        type="note_added",
        at=now,
        actor=Actor.employee(author.key),
        data={"message_id": message.id, "via": via},
    )
    return message
