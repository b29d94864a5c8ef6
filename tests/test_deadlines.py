"""Keeping the deadline: reminders, escalation, digest, each sent once; the clock stops while waiting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from ingest.assembly import build_pipeline, sync_employees
from ingest.config import load_config
from ingest.inquiries.clock import pause_clock
from ingest.inquiries.scheduled import DeadlineKeeper
from ingest.intake.receipts import ReceiptStore
from ingest.routing import calendar_from_settings
from router.deadlines import DeadlinePolicy, alarm_times
from storage.actors import Actor
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import DeadlineAlarm, Event, Inquiry, Outbox
from tests.pipeline_office import Clock
from tests.support import ROOT

RIGA = ZoneInfo("Europe/Riga")
CAL = calendar_from_settings(load_config(ROOT / "config.example.toml", env={}))


def lv(d: int, h: int, mi: int = 0, mo: int = 11) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=RIGA).astimezone(UTC)


def mail(i: int, text: str = "Atkritumi nav izvesti.") -> bytes:
    return (
        f"From: client{i}@client.example\r\nTo: klienti@example.lv\r\nSubject: Atkritumi {i}\r\n"
        f"Message-ID: <d{i}@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    ).encode()


def test_alarm_times_for_a_simple_inquiry() -> None:
    counted = lv(25, 10)  # Wednesday
    due = CAL.due_at(counted, 1)
    assert due == lv(26, 17)
    alarms = alarm_times(CAL, counted_from=counted, due_at=due, policy=DeadlinePolicy())
    assert alarms == [
        ("due_day", lv(26, 8)),
        ("share_left", lv(26, 13)),  # 16 working hours in all, 4 left at 13:00
        ("overdue", lv(26, 17)),
        ("overdue_board", lv(27, 16)),  # 8 working hours later: Friday 08:00-16:00
    ]


class World:
    def __init__(self, settings: Any, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings.database_url())
        migrate(self.engine)
        self.sessions = session_factory(self.engine)
        sync_employees(self.sessions, settings)
        self.pipeline = build_pipeline(settings, self.sessions, clock)
        self.store = ReceiptStore(sessions=self.sessions, clock=clock)

    def keeper(self) -> DeadlineKeeper:
        return DeadlineKeeper(
            sessions=session_factory(make_engine(self.settings.database_url())),
            notices=self.pipeline.notices,
            calendar=self.pipeline.router.calendar,
            clock=self.clock,
            fallback_employee="koordinatore",
            board_member="valde",
        )

    def receive(self, *raws: bytes) -> None:
        for raw in raws:
            self.store.store_sync(self.pipeline.channels["email"], source="smtp", raw=raw, meta={})
        while self.pipeline.process_due():
            pass

    def outbox(self, prefix: str = "deadline_") -> list[tuple[str, str]]:
        with Session(self.engine) as session:
            rows = session.exec(select(Outbox).order_by(Outbox.id)).all()
        return [(o.kind, o.recipient) for o in rows if o.kind.startswith(prefix)]


@pytest.fixture
def world(make_settings: Any) -> Iterator[World]:
    w = World(make_settings(), Clock(lv(25, 10)))
    yield w
    w.engine.dispose()


def test_reminders_and_escalation_each_once(world: World) -> None:
    world.receive(mail(1))
    keeper = world.keeper()
    steps = [
        (lv(25, 16), []),
        (
            lv(26, 8, 1),
            [("deadline_due_day", "janis.kalnins@example.lv"), ("deadline_digest", "janis.kalnins@example.lv")],
        ),
        (lv(26, 13, 1), [("deadline_share_left", "janis.kalnins@example.lv")]),
        (lv(26, 17, 1), [("deadline_overdue", "ilze.berzina@example.lv")]),  # the supervisor
        # Friday morning: the overdue inquiry is in that day's digest too.
        (lv(27, 8, 5), [("deadline_digest", "janis.kalnins@example.lv")]),
        (lv(27, 16, 1), [("deadline_overdue_board", "laura.zarina@example.lv")]),
    ]
    expected: list[tuple[str, str]] = []
    for moment, new in steps:
        world.clock.now = moment
        keeper.sweep()
        keeper.sweep()  # a second sweep at the same moment adds nothing
        expected += new
        assert sorted(world.outbox()) == sorted(expected), moment
    with Session(world.engine) as session:
        types = [e.type for e in session.exec(select(Event)).all()]
    assert types.count("reminded") == 2 and types.count("escalated") == 2


def test_answered_inquiry_is_not_reminded(world: World) -> None:
    world.receive(mail(2))
    with transaction(world.sessions) as session:
        inquiry = session.exec(select(Inquiry)).one()
        inquiry.status = "answered"
        session.add(inquiry)
    world.clock.now = lv(30, 12)
    world.keeper().sweep()
    assert world.outbox() == []
    with Session(world.engine) as session:
        assert all(a.fired_at is not None for a in session.exec(select(DeadlineAlarm)).all())


def test_clock_stops_while_waiting_for_the_client(world: World) -> None:
    world.receive(mail(3))
    world.clock.now = lv(25, 12)
    with transaction(world.sessions) as session:
        inquiry = session.exec(select(Inquiry)).one()
        assert inquiry.due_at == lv(26, 17)
        pause_clock(session, inquiry=inquiry, actor=Actor.employee("janis.kalnins"), now=world.clock.now)
    world.clock.now = lv(27, 12)  # past the old due date: nothing fires while waiting
    world.keeper().sweep()
    assert world.outbox() == []
    # The client answers on Monday at 10:00: 14 working hours were left (Wed 12-17, Thu 8-17).
    world.clock.now = lv(30, 10)
    reply = mail(4, "Papildu informācija.").replace(
        b"Message-ID: <d4@client.example>", b"Message-ID: <d4@client.example>\r\nIn-Reply-To: <d3@client.example>"
    )
    world.receive(reply.replace(b"client4@", b"client3@"))
    with Session(world.engine) as session:
        inquiry = session.exec(select(Inquiry)).one()
        resumed = session.exec(select(Event).where(Event.type == "clock_resumed")).one()
        alarms = session.exec(select(DeadlineAlarm).where(DeadlineAlarm.fired_at == None)).all()  # noqa: E711
    assert inquiry.status == "open" and inquiry.clock_paused_at is None
    assert inquiry.due_at == lv(1, 15, mo=12)  # Mon 10-17 (7 h) + Tue 08-15 (7 h)
    assert resumed.data["old_due_at"] == lv(26, 17).isoformat()
    assert {a.kind for a in alarms} == {"due_day", "share_left", "overdue", "overdue_board"}


@pytest.mark.slow  # 30 inquiries, two sweepers racing
def test_two_sweepers_in_parallel_send_everything_once(world: World) -> None:
    world.receive(*(mail(100 + i) for i in range(30)))
    with Session(world.engine) as session:
        alarms = len(session.exec(select(DeadlineAlarm)).all())
    assert alarms == 30 * 4
    world.clock.now = lv(30, 12)  # every alarm is due
    keepers = [world.keeper(), world.keeper()]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(keeper: DeadlineKeeper) -> None:
        try:
            start.wait()
            for _ in range(3):
                keeper.sweep()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in keepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    sent = world.outbox()
    kinds = [k for k, _ in sent]
    # Every alarm came due while nobody swept: each inquiry's four go out as the board's one.
    assert kinds.count("deadline_overdue_board") == 30
    assert kinds.count("deadline_due_day") == kinds.count("deadline_share_left") == kinds.count("deadline_overdue") == 0
    with Session(world.engine) as session:
        assert all(a.fired_at is not None for a in session.exec(select(DeadlineAlarm)).all())
    # One digest per employee with inquiries due: both waste specialists share the 30.
    digests = [r for k, r in sent if k == "deadline_digest"]
    assert sorted(digests) == ["janis.kalnins@example.lv", "olga.petrova@example.lv"]
    print(f"\nparallel sweep on {world.settings.database_url().split(':')[0]}: {len(sent)} messages, none twice")
