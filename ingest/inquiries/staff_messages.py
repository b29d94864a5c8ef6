"""A message staff write on an inquiry (an answer or an internal note), as its row."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import Session

from storage.models import Direction, Employee, Inquiry, Message


def add_staff_message(
    session: Session,
    *,
    inquiry: Inquiry,
    author: Employee,
    direction: Direction,
    channel: str,
    text: str,
    via: str,
    now: datetime,
) -> Message:
    """The row (flushed, so it has its id). Its external id is unique and says where it came
    from (``api-answer:…``, ``api-note:…``); an answer carries the inquiry's subject."""
    assert inquiry.id is not None
    kind = "answer" if direction == Direction.OUT else "note"
    message = Message(
        inquiry_id=inquiry.id,
        direction=direction.value,
        channel=channel,
        external_id=f"{via}-{kind}:{secrets.token_hex(16)}",
        sender=author.email,
        sender_name=f"{author.name} {author.surname}",
        subject=inquiry.subject if direction == Direction.OUT else None,
        text=text,
        received_at=now,
    )
    session.add(message)
    session.flush()
    return message
