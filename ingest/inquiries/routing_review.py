"""Learning from the office's corrections without giving the rules away (policy 16: the board
changes the rules; issue 16, item 3).

Staff reassign what the router sent to the wrong field. :func:`misroutes` finds those
reassignments in a period, with the words that chose the wrong topic, and
:func:`suggested_keywords` the words that the misrouted messages of each right topic share and
that topic's keywords lack: suggestions for a person to weigh, never applied by themselves.
:func:`export_cases` writes past inquiries with their final topic as labelled cases, and
:func:`evaluate` replays labelled cases through the router: accuracy per topic and what was
taken for what.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from router.keywords import tokens
from router.route import Router
from storage import inquiry_repo
from storage.models import Event, Inquiry

# Words shorter than this say little about a topic (prepositions, pronouns, "un", "и").
MIN_WORD = 4


@dataclass(frozen=True)
class Misroute:
    reference: str
    at: datetime
    routed_topic: str | None
    final_topic: str | None
    from_employee: str | None
    to_employee: str
    misled_by: tuple[str, ...]  # the keyword and the client's word that chose the routed topic
    words: frozenset[str] = frozenset()  # the first message's words, for the suggestions


def final_topic(employee: str, topics: Mapping[str, Sequence[str]], routed: str | None) -> str | None:
    """The topic an inquiry turned out to be about when staff gave it to ``employee``: the routed
    one when that employee serves it, else the first topic they serve (None: they serve none)."""
    served = [key for key, employees in topics.items() if employee in employees]
    return routed if routed in served else (served[0] if served else None)


def misroutes(
    session: Session, *, start: datetime, end: datetime, topics: Mapping[str, Sequence[str]]
) -> list[Misroute]:
    """The reassignments in [start, end) that moved an inquiry to another topic, oldest first."""
    rows = session.exec(
        select(Event, Inquiry)
        .join(Inquiry, col(Inquiry.id) == col(Event.inquiry_id))
        .where(Event.type == "reassigned", col(Event.at) >= start, col(Event.at) < end)
        .order_by(col(Event.at), col(Event.id))
    ).all()
    found = []
    for event, inquiry in rows:
        to = str(event.data.get("to") or "")
        routed = _routed_facts(session, inquiry)
        routed_topic = routed.get("topic") if isinstance(routed.get("topic"), str) else None
        final = final_topic(to, topics, routed_topic)
        if not to or final == routed_topic:
            continue
        misled = tuple(str(routed[k]) for k in ("keyword", "matched_word") if routed.get(k))
        found.append(Misroute(inquiry.reference, event.at, routed_topic, final, event.data.get("from"), to,
                              misled, frozenset(_first_words(session, inquiry))))  # fmt: skip
    return found


def suggested_keywords(
    found: Iterable[Misroute], keywords: Mapping[str, Sequence[str]], *, top: int = 5
) -> dict[str, list[tuple[str, int]]]:
    """Per right topic: the words most of its misrouted messages share that none of its keywords
    begins, with how many messages had each (at least two)."""
    by_topic: dict[str, Counter[str]] = {}
    for item in found:
        if item.final_topic is None:
            continue
        known = [k.lower().lstrip("=") for k in keywords.get(item.final_topic, ())]
        counter = by_topic.setdefault(item.final_topic, Counter())
        counter.update(w for w in item.words if len(w) >= MIN_WORD and not any(w.startswith(k) for k in known))
    return {topic: [(w, n) for w, n in counter.most_common(top) if n >= 2] for topic, counter in by_topic.items()}


def export_cases(
    session: Session, *, start: datetime, end: datetime, topics: Mapping[str, Sequence[str]]
) -> Iterator[dict[str, Any]]:
    """Inquiries received in [start, end) as labelled cases: the first message and the final topic
    (where staff moved it to another field, the topic of the employee who got it last)."""
    inquiries = session.exec(
        select(Inquiry)
        .where(col(Inquiry.received_at) >= start, col(Inquiry.received_at) < end)
        .order_by(col(Inquiry.id))
    ).all()
    for inquiry in inquiries:
        assert inquiry.id is not None
        messages = [m for m in inquiry_repo.messages_of(session, inquiry_id=inquiry.id) if m.direction == "in"]
        if not messages:
            continue
        topic = inquiry.topic
        last = session.exec(
            select(Event)
            .where(Event.inquiry_id == inquiry.id, Event.type == "reassigned")
            .order_by(col(Event.id).desc())
        ).first()
        if last is not None:
            topic = final_topic(str(last.data.get("to") or ""), topics, topic)
        yield {"reference": inquiry.reference, "subject": messages[0].subject or "", "text": messages[0].text or "",
               "topic": topic}  # fmt: skip


@dataclass
class Evaluation:
    total: int = 0
    right: int = 0
    per_topic: dict[str, list[int]] = field(default_factory=dict)  # expected topic -> [cases, right]
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (expected, got) when they differ


def evaluate(router: Router, cases: Iterable[Mapping[str, Any]]) -> Evaluation:
    """Each case (``subject``, ``text``, ``topic``: the right topic key, or null for none) routed
    anew by the current configuration."""
    result = Evaluation()
    for case in cases:
        understood = router.understand(subject=case.get("subject"), text=str(case.get("text") or ""))
        got = understood.topic.topic.key if understood.topic else "-"
        expected = str(case.get("topic") or "-")
        tally = result.per_topic.setdefault(expected, [0, 0])
        result.total += 1
        tally[0] += 1
        if got == expected:
            result.right += 1
            tally[1] += 1
        else:
            result.confusion[(expected, got)] += 1
    return result


def _routed_facts(session: Session, inquiry: Inquiry) -> dict[str, Any]:
    assert inquiry.id is not None
    for event in inquiry_repo.routed_events(session, inquiry_id=inquiry.id):
        if event.type == "routed" and isinstance(event.data.get("facts"), dict):
            return dict(event.data["facts"])
    return {}


def _first_words(session: Session, inquiry: Inquiry) -> set[str]:
    assert inquiry.id is not None
    for message in inquiry_repo.messages_of(session, inquiry_id=inquiry.id):
        if message.direction == "in":
            return set(tokens(f"{message.subject or ''} {message.text or ''}"))
    return set()
