"""Why an inquiry went to its employee and what is left of its time, in words for the inquiry page.

The routing event (``routed``) keeps the router's facts as codes and numbers; here they become
sentences from the catalogs, with the employees' names rather than their keys, so staff read
"Tēma: Atkritumi; vārds «konteineri» atbilst atslēgvārdam «konteiner»" and not a rule id. The
CLI's ``ingest explain`` keeps the full technical record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ingest.dashboard.labels import N_
from router.calendar import WorkingCalendar
from storage.models import OPEN_STATUSES, Event, Inquiry, InquiryStatus


@dataclass(frozen=True)
class Line:
    """One sentence: a catalog text and the values of its placeholders (none has plural forms)."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)


Names = Callable[[Sequence[str]], str]  # employees' keys -> "Ilze Bērziņa, Jānis Ozols"

RULES = {
    "complaint-to-board": N_("A complaint goes to the board member, never to the employee it is about."),
    "client-continuity": N_("The client already has an inquiry with this employee: it stays with one person."),
    "topic-keyword": N_("Of the competent employees at work, this one has the least work now."),
    "fallback": N_("No competent employee was found: the inquiry went to the general desk."),
}
REASONS = {
    "no topic keyword matched": N_("No topic's keyword is in the text."),
    "the board member is away or named in the complaint": N_("The board member is away or named in the complaint."),
}


def routing_lines(
    events: Sequence[Event], *, names: Names, topic_names: Mapping[str, str], day: Callable[[date], str]
) -> list[Line]:
    """The last routing of the inquiry in sentences; nothing when it was never routed (a logged call).
    The routing of an inquiry merged into this one moved here with its events; it is not this one's."""
    moved = {i for e in events if e.type == "merged" for i in e.data.get("moved_routing") or []}
    routed = [e for e in events if e.type == "routed" and e.id not in moved]
    if not routed:
        return []
    data = routed[-1].data
    facts: dict[str, Any] = data.get("facts") or {}
    lines: list[Line] = []
    topic = facts.get("topic")
    if topic:
        lines.append(
            Line(
                N_("Topic %(topic)s: the word “%(word)s” matches the keyword “%(keyword)s”."),
                {"topic": topic_names.get(topic, topic), "word": facts.get("matched_word") or "",
                 "keyword": facts.get("keyword") or ""},
            )
        )  # fmt: skip
    rule = str(data.get("rule") or "")
    lines.append(Line(RULES.get(rule, N_("Rule: %(rule)s.")), {"rule": rule}))
    lines.extend(_people(facts, names))
    reason = str(facts.get("reason") or "")
    if reason:
        lines.append(_reason(reason, topic_names))
    lines.extend(_complexity(facts.get("complexity_reasons") or [], topic_names))
    lines.extend(_due(facts.get("due") or {}, day))
    return lines


def _people(facts: Mapping[str, Any], names: Names) -> list[Line]:
    lines: list[Line] = []
    if facts.get("deputy_for"):
        lines.append(Line(N_("Standing in for %(name)s, who is away."), {"name": names([facts["deputy_for"]])}))
    if facts.get("absent"):
        lines.append(Line(N_("Away today: %(names)s."), {"names": names(facts["absent"])}))
    if facts.get("speaks_client_language"):
        lines.append(
            Line(
                N_("Speak the client's language (%(language)s): %(names)s."),
                {"language": facts.get("language") or "", "names": names(facts["speaks_client_language"])},
            )
        )
    load = facts.get("load") or {}
    if len(load) > 1:
        shown = ", ".join(f"{names([key])} {weight}" for key, weight in load.items())
        lines.append(Line(N_("Open and due today per employee: %(load)s."), {"load": shown}))
    if facts.get("employees_named"):
        lines.append(
            Line(
                N_("Named in the complaint, and so never shown it: %(names)s."),
                {"names": names(facts["employees_named"])},
            )
        )
    return lines


def _reason(reason: str, topic_names: Mapping[str, str]) -> Line:
    found = re.fullmatch(r"nobody competent for (.+) is available", reason)
    if found:
        topic = found.group(1)
        return Line(N_("Nobody competent for %(topic)s is at work."), {"topic": topic_names.get(topic, topic)})
    return Line(REASONS.get(reason, N_("Why: %(reason)s.")), {"reason": reason})


def _complexity(reasons: Sequence[str], topic_names: Mapping[str, str]) -> list[Line]:
    """The router writes its reasons in English; each known shape becomes a sentence."""
    lines = []
    for reason in reasons:
        if found := re.fullmatch(r"topic (.+) is complex", reason):
            topic = topic_names.get(found.group(1), found.group(1))
            lines.append(Line(N_("Complex: the topic %(topic)s takes two working days."), {"topic": topic}))
        elif found := re.fullmatch(r"text longer than (\d+) characters", reason):
            lines.append(Line(N_("Complex: the text is longer than %(chars)s characters."), {"chars": found.group(1)}))
        elif found := re.fullmatch(r"(\d+) attachment\(s\)", reason):
            count = int(found.group(1))
            lines.append(Line(N_("Complex: attachments (%(count)s)."), {"count": count}))
        elif found := re.fullmatch(r"several topics: (.+)", reason):
            topics = ", ".join(topic_names.get(t.strip(), t.strip()) for t in found.group(1).split(","))
            lines.append(Line(N_("Complex: several topics (%(topics)s)."), {"topics": topics}))
        else:
            lines.append(Line(N_("Complex: %(reason)s."), {"reason": reason}))
    return lines


def _due(due: Mapping[str, Any], day: Callable[[date], str]) -> list[Line]:
    if not due.get("counted_from"):
        return []
    counted = datetime.fromisoformat(str(due["counted_from"]))
    days = int(due.get("working_days") or 0)
    lines = [
        Line(
            N_("Working days to answer: %(days)s, counted from %(start)s."),
            {"days": days, "start": counted.strftime("%d.%m.%Y %H:%M")},
        )
    ]
    for skipped in due.get("skipped") or []:
        why = str(skipped.get("why") or "")
        when = day(date.fromisoformat(str(skipped.get("date"))))
        if why == "weekend":
            lines.append(Line(N_("Not counted: %(date)s, a weekend."), {"date": when}))
        else:
            lines.append(Line(N_("Not counted: %(date)s, %(holiday)s."), {"date": when, "holiday": why}))
    return lines


def time_left(inquiry: Inquiry, calendar: WorkingCalendar, now: datetime) -> Line | None:
    """What is left of the inquiry's working time, or how late it is; None when that no longer matters."""
    if inquiry.due_at is None or inquiry.status not in OPEN_STATUSES:
        return None
    if inquiry.status == InquiryStatus.WAITING_CLIENT.value:
        return Line(N_("The clock stands still while the client is asked for more."))
    if now < inquiry.due_at:
        left = calendar.working_time_between(now, inquiry.due_at)
        return Line(N_("Working time left: %(hours)s h %(minutes)s min."), hours_minutes(left))
    late = calendar.working_time_between(inquiry.due_at, now)
    return Line(N_("Overdue by %(hours)s h %(minutes)s min of working time."), hours_minutes(late))


def hours_minutes(amount: timedelta) -> dict[str, str]:
    """Whole hours and the minutes beyond them (two digits), as the sentence's values."""
    minutes = int(amount.total_seconds() // 60)
    return {"hours": str(minutes // 60), "minutes": f"{minutes % 60:02d}"}
