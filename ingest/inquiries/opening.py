"""Opening an inquiry: the same records whichever path opens it (a client's message, a logged
call or visit).

The pipeline and the staff API's interaction log both need what the router must know from
storage (:func:`situation`), a new inquiry row with its reference and reply token
(:func:`create_inquiry`), and the routing recorded with its deadline alarms
(:func:`record_routing`). The callers keep what differs: the first message and the
``received`` event.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ingest.inquiries.clock import schedule_alarms
from router.calendar import WorkingCalendar
from router.deadlines import DeadlinePolicy
from router.route import Load, Situation
from storage import repo
from storage.models import Contact, Inquiry


def situation(session: Session, *, calendar: WorkingCalendar, contact: Contact, received_at: datetime) -> Situation:
    """What the router needs to know from storage: who is away, loads, the client's employee."""
    # Who is away on the day the message counts from (a Friday-evening message is Monday's work).
    local_day = calendar.start_of_counting(received_at).date()
    end_of_day = datetime.combine(local_day, time.max, tzinfo=calendar.tz)
    loads = repo.load_by_employee(session, due_by=end_of_day)
    previous = repo.client_open_inquiry(session, contact_id=contact.id) if contact.id else None
    return Situation(
        absent=frozenset(repo.absent_on(session, day=local_day)),
        load={k: Load(open=n, due_soon=d) for k, (n, d) in loads.items()},
        client_employee=previous[0] if previous else None,
        client_topic=previous[1] if previous else None,
    )


def create_inquiry(
    session: Session,
    *,
    reference_prefix: str,
    tz: ZoneInfo,
    contact: Contact,
    received_at: datetime,
    now: datetime,
    next_number: Callable[[str], int] | None = None,
    **fields: Any,
) -> Inquiry:
    """A new inquiry row (flushed, so it has its id) with the next reference of its year.

    ``fields`` are the inquiry's own columns (channel, topic, kind, language, complexity,
    subject, employee_id, due_at). The contact's language is set from the first inquiry.
    ``next_number`` hands out the year's reference numbers (the pipeline's batch keeps them in
    memory); by default each call takes the counter's row.
    """
    year = received_at.astimezone(tz).year
    name = f"reference-{year}"
    number = next_number(name) if next_number else repo.next_counter(session, name=name)
    if contact.preferred_language is None:
        contact.preferred_language = fields.get("language")
        session.add(contact)
    if contact.id is None:
        session.flush()  # a new client's contact, stored with its language in one INSERT
    inquiry = Inquiry(
        reference=f"{reference_prefix}-{year}-{number:06d}",
        # Lower-case hex: survives mail servers that fold the case of addresses.
        token=secrets.token_hex(12),
        contact_id=contact.id,  # type: ignore[arg-type]
        received_at=received_at,
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(inquiry)
    session.flush()
    return inquiry


def record_routing(
    session: Session,
    *,
    inquiry: Inquiry,
    employee_key: str | None,
    rule: str,
    facts: dict[str, Any],
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    now: datetime,
) -> None:
    """The ``routed`` event (who, by which rule, why, until when) and the deadline's alarms."""
    assert inquiry.id is not None and inquiry.due_at is not None
    repo.add_event(
        session,
        inquiry_id=inquiry.id,
        type="routed",
        at=now,
        data={"employee": employee_key, "rule": rule, "facts": facts, "due_at": inquiry.due_at.isoformat()},
    )
    schedule_alarms(
        session,
        fresh=True,
        inquiry=inquiry,
        calendar=calendar,
        policy=policy,
        counted_from=calendar.start_of_counting(inquiry.received_at),
        now=now,
    )
