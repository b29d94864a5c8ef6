"""Choosing the responsible employee and the due date, with the reasons.

The router is a pure function of the inquiry, the configuration and a
:class:`Situation` (who is away, who carries what load, whom the client is
already talking to) that the pipeline reads from storage. Its decision names
the rule that chose the employee and the facts behind it; the pipeline stores
both as the ``routed`` event, so every assignment can be explained.

Rules, in order:
1. complaint: to the board member (policy clause 13), never to an employee the
   complaint names;
2. client continuity: a client with an open inquiry keeps that employee when
   they are competent and available;
3. topic: the competent, available employees (an absent one's deputy stands in),
   preferring those who speak the client's language, then the lightest load;
4. fallback: the coordinator (or the coordinator's deputy), with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from router.calendar import WorkingCalendar
from router.names import named_employees, surname_stems
from router.understand import Understander, Understanding


@dataclass(frozen=True)
class StaffMember:
    key: str
    name: str
    surname: str
    languages: tuple[str, ...] = ("lv",)
    deputy: str | None = None
    active: bool = True

    def name_stems(self) -> tuple[str, ...]:
        """Stems that find this person in a text despite case endings and script (router/names.py)."""
        return surname_stems(self.surname)


@dataclass(frozen=True)
class Load:
    open: int = 0
    due_soon: int = 0  # due by the end of today, or overdue

    @property
    def weight(self) -> int:
        # An inquiry due today weighs double: it needs its employee's time first.
        return self.open + self.due_soon


@dataclass(frozen=True)
class Situation:
    absent: frozenset[str] = frozenset()
    load: Mapping[str, Load] = field(default_factory=dict)
    # The employee of the client's most recent open inquiry, and its topic.
    client_employee: str | None = None
    client_topic: str | None = None


@dataclass(frozen=True)
class RoutingDecision:
    employee_key: str
    topic_key: str | None
    kind: str
    language: str
    complexity: str
    due_at: datetime
    rule: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Router:
    understander: Understander
    staff: Mapping[str, StaffMember]
    fallback_employee: str
    board_member: str | None
    calendar: WorkingCalendar
    working_days: Mapping[str, int]  # complexity -> working days

    @property
    def topics(self) -> Sequence[Any]:
        return self.understander.topics

    def understand(self, *, subject: str | None, text: str, attachments: int = 0) -> Understanding:
        return self.understander.understand(subject=subject, text=text, attachments=attachments)

    def decide(
        self,
        *,
        subject: str | None,
        text: str,
        received_at: datetime,
        situation: Situation,
        attachments: int = 0,
        sender_name: str | None = None,
        understanding: Understanding | None = None,
    ) -> RoutingDecision:
        """``understanding``: the text already read by :meth:`understand` (the pipeline reads it
        in another process while it writes the previous messages), to save reading it again."""
        u = understanding or self.understand(subject=subject, text=text, attachments=attachments)
        facts: dict[str, Any] = {"language": u.language, "kind": u.kind}
        if u.kind_keyword:
            facts["kind_keyword"] = u.kind_keyword
        facts.update(topic_facts(u))
        if situation.absent:
            facts["absent"] = sorted(situation.absent)

        named = self.named_employees([subject, text], sender_name)
        if named:
            facts["employees_named"] = named
        employee, rule = self._choose(u, situation, named, facts)

        days = self.working_days[u.complexity]
        facts["due"] = self.calendar.explain_due(received_at, days)
        facts["complexity_reasons"] = list(u.complexity_reasons)
        return RoutingDecision(
            employee_key=employee,
            topic_key=u.topic.topic.key if u.topic else None,
            kind=u.kind,
            language=u.language,
            complexity=u.complexity,
            due_at=self.calendar.due_at(received_at, days),
            rule=rule,
            facts=facts,
        )

    # -- rules -------------------------------------------------------------------------------

    def _choose(
        self, u: Understanding, situation: Situation, named: list[str], facts: dict[str, Any]
    ) -> tuple[str, str]:
        excluded = set(named) if u.kind == "complaint" else set()
        if u.kind == "complaint" and self.board_member:
            chosen = self._available_or_deputy(self.board_member, situation, excluded)
            if chosen is not None:
                if chosen != self.board_member:
                    facts["deputy_for"] = self.board_member
                return chosen, "complaint-to-board"
            facts["reason"] = "the board member is away or named in the complaint"

        topic_key = u.topic.topic.key if u.topic else None
        previous = situation.client_employee
        if previous and previous not in excluded and self._available(previous, situation):
            competent = u.topic is None or previous in u.topic.topic.employees
            if competent:
                facts["client_topic"] = situation.client_topic
                return previous, "client-continuity"

        if u.topic is not None:
            chosen = self._by_topic(u.topic.topic.employees, u.language, situation, excluded, facts)
            if chosen is not None:
                return chosen, "topic-keyword"
            facts["reason"] = f"nobody competent for {topic_key} is available"
        else:
            facts.setdefault("reason", "no topic keyword matched")

        fallback = self._available_or_deputy(self.fallback_employee, situation, excluded)
        if fallback is not None and fallback != self.fallback_employee:
            facts["deputy_for"] = self.fallback_employee
        return fallback or self.fallback_employee, "fallback"

    def _by_topic(
        self,
        competent: Sequence[str],
        language: str,
        situation: Situation,
        excluded: set[str],
        facts: dict[str, Any],
    ) -> str | None:
        order: list[str] = []
        stands_in: dict[str, str] = {}
        for key in competent:
            chosen = self._available_or_deputy(key, situation, excluded)
            if chosen is not None and chosen not in order:
                order.append(chosen)
                if chosen != key:
                    stands_in[chosen] = key
        if not order:
            return None
        speakers = [k for k in order if language in self.staff[k].languages]
        pool = speakers or order
        load = {k: situation.load.get(k, Load()).weight for k in order}
        chosen = min(pool, key=lambda k: (load[k], order.index(k)))
        facts.update(candidates=order, load=load)
        if speakers and len(speakers) < len(order):
            facts["speaks_client_language"] = speakers
        if chosen in stands_in:
            facts["deputy_for"] = stands_in[chosen]
        return chosen

    def _available(self, key: str, situation: Situation) -> bool:
        member = self.staff.get(key)
        return member is not None and member.active and key not in situation.absent

    def _available_or_deputy(self, key: str, situation: Situation, excluded: set[str]) -> str | None:
        if key not in excluded and self._available(key, situation):
            return key
        deputy = self.staff[key].deputy if key in self.staff else None
        if deputy and deputy not in excluded and self._available(deputy, situation):
            return deputy
        return None

    def named_employees(self, texts: Iterable[str | None], sender_name: str | None = None) -> list[str]:
        """The employees named in any of ``texts`` (every message of an inquiry, for the complaint
        rule), in any script and case form; the sender's own surname excepted."""
        return named_employees(self.staff, texts, sender_name)


def topic_facts(u: Understanding) -> dict[str, Any]:
    """What chose the topic, for the ``routed`` event: the strongest evidence, every topic's score,
    the near ties and, for a matter such as billing, the service it concerns."""
    facts: dict[str, Any] = {}
    if u.transliterated:
        facts["transliterated"] = True
    if not u.topic:
        return facts
    facts.update(topic=u.topic.topic.key, keyword=u.topic.keyword, matched_word=u.topic.word)
    if len(u.topics) > 1:
        facts["other_topics"] = [m.topic.key for m in u.topics[1:]]
    facts["topic_scores"] = {m.topic.key: m.score for m in u.topics}
    if u.near_ties:
        facts["near_ties"] = list(u.near_ties)
    if u.concerns:
        facts["concerns"] = u.concerns
    return facts
