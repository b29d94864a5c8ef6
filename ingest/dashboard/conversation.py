"""The inquiry's timeline as the client saw it, for the inquiry page.

What reached the client is the outbox row, not the employee's words as they typed them: the
acknowledgement, the redirect notice, the written-form instructions and each answer, on the
channel and with the text it was sent (a WhatsApp answer as the WhatsApp text, not the
employee's e-mail reply with its subject). So an answer that has an outbox row is shown as that
row; one that reached nobody stays as the employee's message, marked as not sent. Events that
only repeat a sent message are left out; internal notes stay, set apart by the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ingest.api.schemas import EventOut, InquiryDetail
from storage.models import Outbox, OutboxStatus


@dataclass(frozen=True)
class Sent:
    """A message queued for the client, as it went (or will go) out."""

    id: int
    kind: str  # client_ack, client_redirect, client_written_form, client_answer, ...
    channel: str
    recipient: str
    subject: str | None
    text: str
    status: str  # pending, sending, sent, failed, withdrawn
    at: datetime


class Entry(NamedTuple):
    """One line of the timeline; a tuple, so the page unpacks it as (kind, at, id, item)."""

    kind: str  # "message", "sent" or "event"
    at: datetime
    id: int
    item: Any


def sent_of(rows: Sequence[Outbox]) -> list[Sent]:
    out = []
    for row in rows:
        assert row.id is not None
        payload = row.payload or {}
        withdrawn = row.status == OutboxStatus.WITHDRAWN.value
        out.append(
            Sent(
                id=row.id, kind=row.kind, channel=row.channel, recipient=row.recipient,
                subject=payload.get("subject") if row.channel == "email" else None,
                text="" if withdrawn else str(payload.get("text") or ""), status=row.status, at=row.created_at,
            )
        )  # fmt: skip
    return out


def _answers_sent(events: Sequence[EventOut], sent_ids: set[int]) -> set[int]:
    """The ids of answer messages whose outbox row is shown in their place."""
    return {
        int(e.data["message_id"])
        for e in events
        if e.type == "answered" and e.data.get("message_id") is not None and e.data.get("outbox_id") in sent_ids
    }


def _repeats(event: EventOut, sent_ids: set[int]) -> bool:
    """Queued for the client, or sent to them: the sent entry shows both."""
    for_client = (event.type.startswith("client_") and event.type.endswith("_queued")) or (
        event.type == "notified" and str(event.data.get("kind", "")).startswith("client_")
    )
    return for_client and event.data.get("outbox_id") in sent_ids


def timeline(shown: InquiryDetail, sent: Sequence[Sent]) -> list[Entry]:
    """Messages, what was sent to the client and events, in the order they happened; at the same
    moment a message comes before what was sent, and both before an event."""
    sent_ids = {s.id for s in sent}
    replaced = _answers_sent(shown.events, sent_ids)
    entries = [Entry("message", m.received_at, m.id, m) for m in shown.messages if m.id not in replaced]
    entries += [Entry("sent", s.at, s.id, s) for s in sent]
    entries += [Entry("event", e.at, e.id, e) for e in shown.events if not _repeats(e, sent_ids)]
    order = {"message": 0, "sent": 1, "event": 2}
    return sorted(entries, key=lambda e: (e.at, order[e.kind], e.id))
