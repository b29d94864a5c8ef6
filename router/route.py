"""Choosing the responsible employee and the due date, with the reasons.

The router is a pure function of the inquiry's text, the configuration and the
current load per employee; the pipeline supplies the load and records the
decision (rule and facts) as an event, so every assignment can be explained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from router.calendar import WorkingCalendar
from router.topics import Topic, match_topic


@dataclass(frozen=True)
class RoutingDecision:
    employee_key: str
    topic_key: str | None
    complexity: str
    due_at: datetime
    rule: str  # which rule chose the employee: "topic-keyword" or "fallback"
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Router:
    topics: Sequence[Topic]
    fallback_employee: str
    active_employees: frozenset[str]
    calendar: WorkingCalendar
    working_days: Mapping[str, int]  # complexity -> working days

    def decide(
        self,
        *,
        subject: str | None,
        text: str,
        received_at: datetime,
        open_counts: Mapping[str, int],
    ) -> RoutingDecision:
        match = match_topic(self.topics, subject, text)
        facts: dict[str, Any] = {}
        if match is None:
            employee, rule, topic_key, complexity = self.fallback_employee, "fallback", None, "simple"
            facts["reason"] = "no topic keyword matched"
        else:
            topic = match.topic
            topic_key, complexity = topic.key, topic.complexity
            facts.update(topic=topic.key, keyword=match.keyword, matched_word=match.word)
            candidates = [k for k in topic.employees if k in self.active_employees]
            if candidates:
                load = {k: open_counts.get(k, 0) for k in candidates}
                # Fewest open inquiries; ties go to the one listed first in the config.
                employee = min(candidates, key=lambda k: (load[k], candidates.index(k)))
                rule = "topic-keyword"
                facts.update(candidates=candidates, open_inquiries=load)
            else:
                employee, rule = self.fallback_employee, "fallback"
                facts["reason"] = f"no active employee for topic {topic.key}"
        days = self.working_days[complexity]
        due = self.calendar.due_at(received_at, days)
        facts["due"] = {"complexity": complexity, "working_days": days, "received_at": received_at.isoformat()}
        return RoutingDecision(
            employee_key=employee, topic_key=topic_key, complexity=complexity, due_at=due, rule=rule, facts=facts
        )
