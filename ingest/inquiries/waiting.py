"""Waiting for the client: the clock stops, and restarts when they answer or staff say so."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.i18n import N_
from ingest.inquiries.clock import pause_clock, resume_clock
from ingest.inquiries.errors import InquiryError
from router.calendar import WorkingCalendar
from router.deadlines import DeadlinePolicy
from storage.actors import Actor
from storage.models import Inquiry, InquiryStatus


def set_waiting(
    session: Session,
    *,
    inquiry: Inquiry,
    waiting: bool,
    actor: Actor,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    now: datetime,
) -> None:
    if waiting:
        if inquiry.status != InquiryStatus.OPEN.value:
            raise InquiryError(N_("%(reference)s is not open; only an open inquiry can wait for the client."),
                               reference=inquiry.reference)  # fmt: skip
        pause_clock(session, inquiry=inquiry, actor=actor, now=now)
        return
    if inquiry.status != InquiryStatus.WAITING_CLIENT.value:
        raise InquiryError(N_("%(reference)s is not waiting for the client."), reference=inquiry.reference)
    resume_clock(session, inquiry=inquiry, calendar=calendar, policy=policy, now=now)
