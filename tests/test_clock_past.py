"""The clock never promises the past (issue 16, item 5): an entry late when it is created gets one
"late" notice; alarms that passed while the service was down go out as the most severe one; a
reassigned overdue inquiry gives the client a new date, and the miss stays with its holder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.assembly import deadline_policy, notices_from_settings
from ingest.inquiries.clock import settle_past
from ingest.inquiries.explain import explain
from ingest.inquiries.interactions import Desk, Interaction, WrittenRequestInfo, log_interaction
from ingest.inquiries.reassign import reassign
from ingest.privacy.scrub import Identifiers, safe_event_data
from ingest.routing import calendar_from_settings
from router.deadlines import DeadlinePolicy, alarm_times
from storage import figures_repo
from storage.actors import Actor
from storage.db import transaction
from storage.figures_repo import Span, Tally
from storage.models import DeadlineAlarm, Employee, Event, Inquiry, Outbox
from tests.pipeline_office import Clock, pipeline_office
from tests.test_deadlines import CAL, World, lv, mail

JANIS = "janis.kalnins@example.lv"


@pytest.fixture
def world(make_settings: Any) -> Iterator[World]:
    w = World(make_settings(), Clock(lv(25, 10)))
    yield w
    w.engine.dispose()


def test_settle_past_leaves_the_future_alone_and_sums_up_the_past() -> None:
    times = alarm_times(CAL, counted_from=lv(25, 10), due_at=lv(26, 17), policy=DeadlinePolicy())
    assert settle_past(times, now=lv(25, 10)) == times
    # The due day has opened and its reminder with the share's is gone: the more urgent one, now.
    assert settle_past(times, now=lv(26, 14)) == [
        ("due_day", lv(26, 14)),
        ("overdue", lv(26, 17)),
        ("overdue_board", lv(27, 16)),
    ]
    # Past due, the board's moment still ahead: late, and no escalation for a deadline never held.
    assert settle_past(times, now=lv(26, 18)) == [("late", lv(26, 18))]
    assert settle_past(times, now=lv(30, 10)) == [("late", lv(30, 10))]


def _desk(world: World) -> Desk:
    return Desk(
        router=world.pipeline.router,
        notices=world.pipeline.notices,
        policy=DeadlinePolicy(),
        reference_prefix="GK",
        tz=CAL.tz,
        written=WrittenRequestInfo(email="klienti@example.lv"),
    )


def test_a_visit_logged_five_days_late_sends_one_late_notice(world: World) -> None:
    world.clock.now = lv(30, 10)  # Monday; the visit was on Wednesday
    with transaction(world.sessions) as session:
        janis = session.exec(select(Employee).where(Employee.key == "atkritumi-1")).one()
        entry = Interaction(channel="visit", text="Atkritumi nav izvesti.", received_at=lv(25, 10),
                            phone="+37120000002")  # fmt: skip
        logged = log_interaction(session, entry=entry, logger=janis, desk=_desk(world), now=world.clock.now)
        assert logged.inquiry.due_at == lv(26, 17)
    with Session(world.engine) as session:
        alarms = session.exec(select(DeadlineAlarm)).all()
    assert [(a.kind, a.fire_at) for a in alarms] == [("late", lv(30, 10))]
    keeper = world.keeper()
    keeper.sweep()
    keeper.sweep()
    # One notice to the employee; the morning digest of the day lists it as well.
    assert sorted(world.outbox()) == [("deadline_digest", JANIS), ("deadline_late", JANIS)]
    for moment in (lv(30, 17, 1), lv(1, 9, mo=12), lv(3, 12, mo=12)):
        world.clock.now = moment
        keeper.sweep()
    kinds = [kind for kind, _ in world.outbox()]
    assert "deadline_overdue" not in kinds and "deadline_overdue_board" not in kinds and "deadline_due_day" not in kinds
    assert kinds.count("deadline_late") == 1


def test_a_backlog_read_after_an_outage_is_late_once(world: World) -> None:
    """A mail received on Wednesday and processed on Monday (the service was down) is late at once."""
    world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=mail(7), meta={})
    world.clock.now = lv(30, 10)
    while world.pipeline.process_due():
        pass
    with Session(world.engine) as session:
        inquiry = session.exec(select(Inquiry)).one()
        alarms = session.exec(select(DeadlineAlarm)).all()
    assert inquiry.received_at == lv(25, 10) and inquiry.due_at == lv(26, 17)
    assert [a.kind for a in alarms] == ["late"]
    world.keeper().sweep()
    assert [k for k, _ in world.outbox() if k != "deadline_digest"] == ["deadline_late"]


@pytest.mark.parametrize(
    ("back_at", "sent"),
    [
        (lv(26, 13, 30), [("deadline_due_day", JANIS)]),  # the share's reminder is left out
        (lv(26, 17, 30), [("deadline_overdue", "ilze.berzina@example.lv")]),  # reminders too
        (lv(30, 9), [("deadline_overdue_board", "laura.zarina@example.lv")]),  # all four: the board's
    ],
)
def test_alarms_missed_while_down_collapse_into_the_most_severe(
    world: World, back_at: Any, sent: list[tuple[str, str]]
) -> None:
    world.receive(mail(8))
    world.clock.now = back_at
    keeper = world.keeper()
    keeper.sweep()
    keeper.sweep()
    assert [o for o in world.outbox() if o[0] != "deadline_digest"] == sent
    with Session(world.engine) as session:
        pending = session.exec(select(DeadlineAlarm).where(DeadlineAlarm.fired_at == None)).all()  # noqa: E711
        fired = session.exec(select(Event).where(Event.type.in_(("reminded", "escalated")))).one()  # type: ignore[attr-defined]
    assert all(a.fire_at > back_at for a in pending)
    assert fired.data["alarm"] == sent[0][0].removeprefix("deadline_")
    assert len(fired.data.get("passed", [])) == 4 - len(pending) - 1


# -- reassigning an overdue inquiry -------------------------------------------------------------

OLGA = (
    "From: Ольга <olga@client.example>\r\nTo: klienti@example.lv\r\nSubject: Мусор\r\n"
    "Message-ID: <m1@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Здравствуйте, уже неделю не вывозят мусор от дома на улице Бривибас 12.\r\n"
).encode()


def _reassign(o: Any, reference: str, to: str) -> None:
    with transaction(o.sessions) as session:
        inquiry = session.exec(select(Inquiry).where(Inquiry.reference == reference)).one()
        reassign(session, inquiry=inquiry, to_employee=to, actor=Actor.employee("ilze.berzina"), reason="",
                 reason_code="other_field", notices=notices_from_settings(o.settings),
                 calendar=calendar_from_settings(o.settings), policy=deadline_policy(o.settings),
                 now=o.clock())  # fmt: skip


def _by_employee(o: Any) -> dict[str | None, Tally]:
    span = Span(start=lv(1, 0), end=lv(1, 0, mo=12), now=o.clock())
    with Session(o.engine) as session:
        return dict(figures_repo.tallies_by(session, dimension="employee", span=span))


def test_a_reassigned_overdue_inquiry_gets_an_honest_date_and_the_miss_stays_put(make_settings: Any) -> None:
    with pipeline_office(make_settings()) as o:
        o.store.store_sync(o.pipeline.channels["email"], source="smtp", raw=OLGA, meta={})
        o.pipeline.process_due()
        with Session(o.engine) as session:
            first = session.exec(select(Inquiry)).one()
            holder = session.exec(select(Employee).where(Employee.id == first.employee_id)).one()
        assert first.due_at == lv(26, 17) and holder.key == "atkritumi-1"
        o.clock.now = lv(30, 10)  # Monday: the deadline passed on Thursday
        assert _by_employee(o)["atkritumi-1"].missed == 1
        _reassign(o, first.reference, "nami")
        with Session(o.engine) as session:
            after = session.exec(select(Inquiry)).one()
            redirect = session.exec(select(Outbox).where(Outbox.kind == "client_redirect")).one()
            event = session.exec(select(Event).where(Event.type == "reassigned")).one()
            alarms = session.exec(select(DeadlineAlarm).where(DeadlineAlarm.fired_at == None)).all()  # noqa: E711
        # The next working day's end, told to the client in their language; no date in the past.
        assert after.due_at == lv(1, 17, mo=12)
        assert after.missed_due_at == lv(26, 17) and after.missed_by_id == holder.id
        text = redirect.payload["text"]
        assert "Срок ответа уже истёк" in text and "01.12.2026 17:00" in text and "26.11.2026" not in text
        assert event.data["missed_due_at"] == lv(26, 17).isoformat() and event.data["due_at_kept"] is None
        assert alarms and all(a.fire_at > o.clock() for a in alarms)
        with Session(o.engine) as session:
            lines = explain(session, reference=first.reference, tz=CAL.tz).lines
        assert any("missed; due again" in line for line in lines)
        tallies = _by_employee(o)
        # The miss is the first holder's; the new one has an open inquiry within its time.
        assert tallies["atkritumi-1"].missed == 1 and tallies["atkritumi-1"].open == 0
        assert tallies["nami"].missed == 0 and tallies["nami"].open == 1 and tallies["nami"].overdue == 0
        # Answered by the new date: still not "on time" in the office's totals, and missed once.
        with transaction(o.sessions) as session:
            answered = session.exec(select(Inquiry)).one()
            answered.answered_at, answered.status = lv(1, 12, mo=12), "answered"
            session.add(answered)
        o.clock.now = lv(2, 9, mo=12)
        span = Span(start=lv(1, 0), end=lv(1, 0, mo=12), now=o.clock())
        with Session(o.engine) as session:
            total = figures_repo.total_tally(session, span=span)
        assert (total.answered, total.answered_on_time, total.missed) == (1, 0, 1)
        assert _by_employee(o)["nami"].missed == 0


def test_a_reassignment_within_the_time_keeps_the_date(make_settings: Any) -> None:
    with pipeline_office(make_settings()) as o:
        o.store.store_sync(o.pipeline.channels["email"], source="smtp", raw=OLGA, meta={})
        o.pipeline.process_due()
        with Session(o.engine) as session:
            first = session.exec(select(Inquiry)).one()
        o.clock.now = lv(26, 16)
        _reassign(o, first.reference, "nami")
        with Session(o.engine) as session:
            after = session.exec(select(Inquiry)).one()
            redirect = session.exec(select(Outbox).where(Outbox.kind == "client_redirect")).one()
        assert after.due_at == lv(26, 17) and after.missed_due_at is None
        assert "Срок ответа не меняется: 26.11.2026 17:00" in redirect.payload["text"]


def test_the_new_date_of_an_overdue_reassignment_is_configurable(make_settings: Any) -> None:
    assert deadline_policy(make_settings()).reassigned_overdue_days == 1
    policy = deadline_policy(make_settings(deadlines={"reassigned_overdue_working_days": 2}))
    assert policy.reassigned_overdue_days == 2
    assert CAL.due_at(lv(30, 10), policy.reassigned_overdue_days) == lv(2, 17, mo=12)


def test_the_missed_date_survives_anonymisation() -> None:
    data = {"from": "atkritumi-1", "to": "nami", "reason": "Olga Petrova", "missed_due_at": lv(26, 17).isoformat(),
            "due_at": lv(1, 17, mo=12).isoformat(), "due_at_kept": None}  # fmt: skip
    kept = safe_event_data(data, Identifiers.of([]))
    assert kept["missed_due_at"] == lv(26, 17).isoformat() and "reason" not in kept
