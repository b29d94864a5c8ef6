"""Whether a client's message joins their open inquiry when it carries no reference to it.

Policy 5.1.1: the client's need is one matter whatever channel they use next. A message (e-mail,
SMS, WhatsApp) joins the client's open inquiry, or one answered, when it comes within
``[threading] cross_channel_hours`` of working time after the inquiry's last activity; a text
on the channel of an open inquiry joins it whatever its age (as before this rule), and a missed
call joins any open inquiry of the client (it becomes a call-back task there). A message that
is clearly about another topic opens a new inquiry linked to the open one instead: the router
finds another topic in it, and no evidence at all of the open inquiry's topic, and no near tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.pipeline.arrival import Arrival
from router.calendar import WorkingCalendar
from router.understand import Understanding
from storage import thread_repo
from storage.models import Inquiry

TEXT_CHANNELS = ("sms", "whatsapp")
CALL = "phone"
# How far back the cutoff is looked for; longer than any window the configuration allows.
_MAX_DAYS_BACK = 400
# The cutoff of a window that is off: no activity is that recent.
_NEVER = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Joined:
    """The inquiry the message continues, or the one it is clearly not about (``split``)."""

    inquiry: Inquiry
    split: bool
    facts: dict[str, Any]


def working_cutoff(calendar: WorkingCalendar, now: datetime, amount: timedelta) -> datetime:
    """The moment ``amount`` of working time before ``now`` (what lies in between is that much)."""
    if amount <= timedelta(0):
        return now
    start = now
    for _ in range(_MAX_DAYS_BACK):
        start -= timedelta(days=1)
        if calendar.working_time_between(start, now) >= amount:
            break
    left = amount
    for begin, end in reversed(list(calendar.working_periods(start, now))):
        if end - begin >= left:
            return end - left
        left -= end - begin
    return start


def client_inquiry(arrival: Arrival) -> Joined | None:
    """The client's inquiry this message continues (or is clearly not about); None: a new matter."""
    session, inbound, contact, office = arrival.session, arrival.inbound, arrival.contact, arrival.office
    if contact is None or contact.id is None:
        return None  # a client first seen now has no inquiry yet
    # 0 turns the window off: only a text on its open inquiry's channel, and a missed call, join.
    window = office.cross_channel
    since = working_cutoff(office.router.calendar, arrival.now, window) if window else _NEVER
    channel = inbound.channel
    # A call joins any open inquiry; a text the open inquiry on its channel, however old.
    any_age = (CALL, *TEXT_CHANNELS, "email") if channel == CALL else (channel,) if channel in TEXT_CHANNELS else ()
    found = thread_repo.thread_candidates(session, contact_id=contact.id, since=since, any_age_channels=any_age)
    if not found:
        return None
    if channel == CALL:
        return Joined(found[0], split=False, facts=_facts(found[0], channel, office.cross_channel))
    understood: Understanding | None = None
    # The most recent inquiry the message is not clearly apart from: a client writing about two
    # matters in turn goes on in each, instead of opening a new inquiry with every message.
    for candidate in found:
        if candidate.topic and understood is None:
            understood = office.router.understand(subject=inbound.subject, text=inbound.text)
        if not candidate.topic or understood is None or other_topic(understood, candidate.topic) is None:
            return Joined(candidate, split=False, facts=_facts(candidate, channel, office.cross_channel))
    assert understood is not None and found[0].topic is not None
    apart = other_topic(understood, found[0].topic) or {}
    return Joined(found[0], split=True, facts={**_facts(found[0], channel, office.cross_channel), **apart,
                                               "rule": "other_topic"})  # fmt: skip


def _facts(inquiry: Inquiry, channel: str, window: timedelta) -> dict[str, Any]:
    rule = "missed_call" if channel == CALL else "same_channel" if inquiry.channel == channel else "cross_channel"
    return {"rule": rule, "inquiry_channel": inquiry.channel, "window_working_hours": window.total_seconds() / 3600}


def other_topic(understood: Understanding, topic: str) -> dict[str, Any] | None:
    """The facts that make the message clearly about another topic than ``topic``; None if not."""
    best = understood.topic
    if best is None or best.topic.key == topic:
        return None
    seen = {m.topic.key for m in understood.topics}
    if topic in seen or understood.near_ties or understood.concerns == topic:
        return None  # some evidence of the inquiry's topic, or a close call: the same matter
    return {
        "topic": best.topic.key,
        "inquiry_topic": topic,
        "keyword": best.keyword,
        "score": best.score,
        "topic_scores": {m.topic.key: m.score for m in understood.topics},
    }
