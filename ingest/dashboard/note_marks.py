"""Marks on internal notes that may not be their named author's own words.

A reply by e-mail to a staff notification that nothing proves to be the employee's (no DKIM
signature, no confirmation by the office's mail server) is kept as a note, never sent to the
client (ingest/pipeline/staff_reply.py). Its ``From`` names an employee, so without a mark the
inquiry page would show it like any note of theirs; anyone holding the inquiry's reply address
can write one. The ``note_added`` event says why it is in doubt (``reason``); notes kept before
the reason was recorded are known by their ``proof`` being null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.api.schemas import EventOut
from ingest.i18n import N_
from ingest.inquiries.note_doubt import NOT_YOURS, UNVERIFIED
from ingest.inquiries.note_doubt import UNKNOWN_SENDER as UNKNOWN_SENDER_NOTE
from storage.actors import UNKNOWN_SENDER


@dataclass(frozen=True)
class NoteMark:
    reason: str  # the event's reason: unverified, not_yours, unknown_sender
    label: str  # catalog texts (N_), translated when the page is rendered
    explanation: str


MARKS: dict[str, NoteMark] = {
    UNVERIFIED: NoteMark(
        UNVERIFIED,
        N_("Unverified: not proven to come from the employee"),
        N_(
            "The sender's address is the employee's, but neither a DKIM signature nor the office's mail server"
            " confirms the e-mail is theirs. Anyone with the inquiry's reply address could have written it:"
            " do not take it as the employee's own words."
        ),
    ),
    NOT_YOURS: NoteMark(
        NOT_YOURS,
        N_("Not theirs: the notification was sent to someone else"),
        N_(
            "The e-mail is proven to come from the employee, but the notification it answers was sent to"
            " someone else, not to them."
        ),
    ),
    UNKNOWN_SENDER_NOTE: NoteMark(
        UNKNOWN_SENDER_NOTE,
        N_("Not from staff: the sender is not an employee"),
        N_(
            "The e-mail answers a notification to staff, but its sender is not an employee of the office."
            " It was not sent to the client."
        ),
    ),
}


def _reason(event: EventOut) -> str | None:
    data = event.data
    if "reason" in data:
        reason = data["reason"]
        return reason if isinstance(reason, str) else None
    if "proof" in data and data["proof"] is None:  # kept before the reason was recorded
        return UNKNOWN_SENDER_NOTE if event.actor == UNKNOWN_SENDER else UNVERIFIED
    return None


def note_marks(events: Sequence[EventOut]) -> dict[int, NoteMark]:
    """The mark of each note message in doubt, by the message's id."""
    marks: dict[int, NoteMark] = {}
    for event in events:
        message_id = event.data.get("message_id")
        if event.type != "note_added" or not isinstance(message_id, int):
            continue
        mark = MARKS.get(_reason(event) or "")
        if mark is not None:
            marks[message_id] = mark
    return marks
