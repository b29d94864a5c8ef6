"""``ingest explain``: why an inquiry went to whom and how its due date was computed, from its events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ingest.inquiries.reassign import get_inquiry
from storage import inquiry_repo
from storage.actors import ActorKind
from storage.models import Employee, Event


@dataclass(frozen=True)
class Explanation:
    reference: str
    lines: list[str]


def explain(session: Session, *, reference: str, tz: ZoneInfo) -> Explanation:
    """Why the inquiry went to whom, and how its due date was computed, from its events."""
    inquiry = get_inquiry(session, reference)
    assert inquiry.id is not None
    employees = inquiry_repo.employees_by_id(session)
    events = inquiry_repo.events_of(session, inquiry_id=inquiry.id)
    current = employees.get(inquiry.employee_id) if inquiry.employee_id is not None else None
    lines = [
        f"{inquiry.reference}: {inquiry.kind}, topic {inquiry.topic or '—'}, {inquiry.complexity}, "
        f"language {inquiry.language or '—'}, status {inquiry.status}",
        f"responsible: {_who(current)}",
        f"received {_local(inquiry.received_at, tz)}, due {_local(inquiry.due_at, tz)}",
    ]
    for event in events:
        lines.append(f"{_local(event.at, tz)}  {event.type}{_by(event)}")
        if event.type == "routed":
            lines.extend("    " + line for line in _explain_routing(event.data))
        elif event.type == "reassigned":
            data = event.data
            lines.append(f"    from {data.get('from')} to {data.get('to')}: {data.get('reason') or 'no reason given'}")
            if data.get("missed_due_at"):
                # Overdue when reassigned: the client was given a new date (ingest/inquiries/reassign.py).
                lines.append(f"    deadline {data['missed_due_at']} missed; due again {data.get('due_at')}")
        else:
            lines.extend("    " + line for line in _explain_threading(event.type, event.data))
    return Explanation(reference=inquiry.reference, lines=lines)


# How a message was threaded (ingest/pipeline/thread.py, joining.py), in words.
_JOIN_RULES = {
    "references": "it answers a message of this inquiry (In-Reply-To / References)",
    "reference_tag": "its subject carries this inquiry's reference, and it is from the same client",
    "same_channel": "the client's open inquiry on the same channel",
    "cross_channel": "the client's open inquiry, on another channel, within the threading window",
    "missed_call": "a missed call from the client of an open inquiry: a call-back task",
    "other_topic": "clearly about another topic than the client's open inquiry",
    "logged_on_inquiry": "a call or visit staff logged on this inquiry",
}


def _explain_threading(kind: str, data: dict[str, Any]) -> list[str]:
    """Why a message joined this inquiry, or split off into another one; the call-back task."""
    if kind == "message_received" and data.get("joined"):
        joined = data["joined"]
        out = [f"joined on {data.get('channel')}: {_JOIN_RULES.get(joined.get('rule'), joined.get('rule'))}"]
        if joined.get("inquiry_channel") and joined.get("rule") != "references":
            out.append(f"inquiry came on {joined['inquiry_channel']}; window {joined.get('window_working_hours')} "
                       "working hours")  # fmt: skip
        return out
    if kind in ("split_from", "split_to"):
        where = "opened apart from" if kind == "split_from" else "a message split off into"
        return [
            f"{where} {data.get('reference')}: {_JOIN_RULES['other_topic']}",
            f"message topic {data.get('topic')} (keyword {data.get('keyword')!r}, score {data.get('score')}), "
            f"inquiry topic {data.get('inquiry_topic')} not found in it",
        ]
    if kind == "call_back_task":
        return [f"call back {data.get('caller')}: {data.get('employee')}, reminded {data.get('remind_at')}"]
    if kind in ("call_back_done", "call_back_cancelled"):
        why = "the call was logged" if data.get("reason") == "call_logged" else f"the inquiry was {data.get('reason')}"
        cancelled = ", ".join(map(str, data.get("cancelled_outbox_ids") or [])) or "none still waiting"
        return [f"call back settled: {why}; reminders cancelled: {cancelled}"]
    if kind == "automatic_mail":
        contact = ", the client from its Reply-To" if data.get("contact") == "reply-to" else ""
        return [f"automatic mail ({data.get('automatic')}: {data.get('why')}): never acknowledged{contact}"]
    if kind == "client_ack_suppressed":
        return [f"no acknowledgement: {data.get('reason')}"]
    return []


def _explain_routing(data: dict[str, Any]) -> list[str]:
    facts = data.get("facts", {})
    out = [f"rule {data.get('rule')} chose {data.get('employee')}"]
    if "topic" in facts:
        out.append(f"topic {facts['topic']}: keyword {facts.get('keyword')!r} matched {facts.get('matched_word')!r}")
    out.extend(_topic_evidence(facts))
    if facts.get("reason"):
        out.append(f"why: {facts['reason']}")
    out.append(
        f"language {facts.get('language')}, kind {facts.get('kind')}"
        + (f" (keyword {facts['kind_keyword']!r})" if facts.get("kind_keyword") else "")
    )
    for key, label in (
        ("absent", "absent"),
        ("candidates", "candidates"),
        ("speaks_client_language", "speak the client's language"),
        ("load", "load (open + due today)"),
        ("deputy_for", "standing in for"),
        ("employees_named", "employees named in the text"),
        ("complexity_reasons", "complex because"),
    ):
        if facts.get(key):
            out.append(f"{label}: {facts[key]}")
    due = facts.get("due") or {}
    if due:
        out.append(
            f"due: received {due.get('received_at')}, counted from {due.get('counted_from')}, "
            f"{due.get('working_days')} working day(s) -> {due.get('due_at')}"
        )
        for skipped in due.get("skipped", []):
            out.append(f"    skipped {skipped['date']}: {skipped['why']}")
    return out


def _topic_evidence(facts: dict[str, Any]) -> list[str]:
    """The weighed evidence (router/topics.py): every topic's score, near ties, the service a
    matter such as billing concerns, and Russian read from Latin letters."""
    out = []
    scores = facts.get("topic_scores") or {}
    if scores:
        out.append("topic scores: " + ", ".join(f"{key} {score:g}" for key, score in scores.items()))
    if facts.get("near_ties"):
        out.append(f"near ties: {', '.join(facts['near_ties'])}")
    if facts.get("concerns"):
        out.append(f"concerning the service: {facts['concerns']}")
    if facts.get("transliterated"):
        out.append("Russian typed in Latin letters: read with their Cyrillic readings")
    return out


def _who(employee: Employee | None) -> str:
    if employee is None:
        return "nobody"
    return f"{employee.name} {employee.surname} ({employee.key}), {employee.position}"


def _by(event: Event) -> str:
    """Who made the event; a name that is not an employee's own login says what it is (a command-line
    user's --actor may equal an employee's key)."""
    if event.actor_kind == ActorKind.SYSTEM.value:
        return ""
    if event.actor_kind == ActorKind.EMPLOYEE.value:
        return f" by {event.actor}"
    return f" by {event.actor} ({event.actor_kind})"


def _local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "—"
