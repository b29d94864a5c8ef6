"""``ingest explain``: why an inquiry went to whom and how its due date was computed, from its events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ingest.inquiries.reassign import get_inquiry
from storage import inquiry_repo
from storage.models import Employee


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
        lines.append(
            f"{_local(event.at, tz)}  {event.type}" + (f" by {event.actor}" if event.actor != "system" else "")
        )
        if event.type == "routed":
            lines.extend("    " + line for line in _explain_routing(event.data))
        elif event.type == "reassigned":
            data = event.data
            lines.append(f"    from {data.get('from')} to {data.get('to')}: {data.get('reason') or 'no reason given'}")
    return Explanation(reference=inquiry.reference, lines=lines)


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


def _local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "—"
