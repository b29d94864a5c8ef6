"""The clock never promises the past (issue 16, item 5): an entry late when it is created gets one
"late" notice; alarms that passed while the service was down go out as the most severe one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.inquiries.clock import settle_past
from ingest.inquiries.interactions import Desk, Interaction, WrittenRequestInfo, log_interaction
from router.deadlines import DeadlinePolicy, alarm_times
from storage.db import transaction
from storage.models import DeadlineAlarm, Employee, Event, Inquiry
from tests.pipeline_office import Clock
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
