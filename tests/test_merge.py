"""Merging an inquiry into another of the same client (issue 12, item 3 "merge"): the service on
both databases, through the real pipeline. The API and the dashboard: tests/test_merge_http.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from ingest.inquiries.errors import InquiryError
from ingest.inquiries.merging import merge
from storage import figures_repo, inquiry_repo, merge_repo
from storage.actors import Actor
from storage.db import transaction
from storage.models import Attachment, DeadlineAlarm, Event, Inquiry, Message, Outbox
from tests.pipeline_office import PipelineOffice, pipeline_office

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def mail(sender: str, subject: str, text: str, *, png: bool = False, **headers: str) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "klienti@example.lv"
    m["Subject"] = subject
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(text)
    if png:
        m.add_attachment(PNG, maintype="image", subtype="png", filename="konteiners.png")
    return m.as_bytes()


@dataclass
class World:
    office: PipelineOffice

    def receive(self, raw: bytes) -> None:
        self.office.store.store_sync(self.office.pipeline.channels["email"], source="smtp", raw=raw, meta={})
        self.office.pipeline.process_due()

    def inquiries(self) -> list[Inquiry]:
        with Session(self.office.engine) as session:
            return list(session.exec(select(Inquiry).order_by(col(Inquiry.id))).all())

    def merge(self, source: str, target: str, actor: str = "koordinatore") -> None:
        with transaction(self.office.sessions) as session:
            src = session.exec(select(Inquiry).where(Inquiry.reference == source)).one()
            tgt = session.exec(select(Inquiry).where(Inquiry.reference == target)).one()
            merge(session, source=src, target=tgt, actor=Actor.employee(actor),
                  calendar=self.office.pipeline.office.router.calendar,
                  policy=self.office.pipeline.office.deadline_policy, now=self.office.clock())  # fmt: skip


JANIS = "Jānis Ozoliņš <janis@client.example>"


@pytest.fixture
def world(make_settings: Any) -> Iterator[World]:
    """Jānis writes twice a day apart (the first inquiry is due earlier, the second carries a
    picture); Anna once."""
    with pipeline_office(make_settings()) as o:
        w = World(o)
        w.receive(mail(JANIS, "Atkritumi", "Labdien! Netiek izvesti atkritumi no Brīvības ielas 12.",
                       Message_ID="<first@client.example>"))  # fmt: skip
        o.clock.now += timedelta(days=1)
        w.receive(mail(JANIS, "Konteiners", "Konteiners ir salauzts, foto pielikumā.", png=True,
                       Message_ID="<second@client.example>"))  # fmt: skip
        w.receive(mail("anna@client.example", "Apkure", "Dzīvoklī nav apkures.", Message_ID="<anna@client.example>"))
        yield w


def test_merge_moves_the_parts_and_the_earlier_due_date_stands(world: World) -> None:
    first, second, _anna = world.inquiries()
    assert first.contact_id == second.contact_id and first.due_at and second.due_at and first.due_at < second.due_at
    with Session(world.office.engine) as session:
        first_messages = {m.id: m.received_at for m in inquiry_repo.messages_of(session, inquiry_id=first.id or 0)}
        first_events = {e.id for e in inquiry_repo.events_of(session, inquiry_id=first.id or 0)}
    world.office.clock.now += timedelta(minutes=5)
    world.merge(first.reference, second.reference)
    with Session(world.office.engine) as session:
        source = session.get(Inquiry, first.id)
        target = session.get(Inquiry, second.id)
        assert source is not None and target is not None
        moved = {m.id: m.received_at for m in inquiry_repo.messages_of(session, inquiry_id=target.id or 0)}
        assert first_messages.items() <= moved.items(), "the source's messages are on the target, times kept"
        assert inquiry_repo.messages_of(session, inquiry_id=source.id or 0) == []
        target_events = inquiry_repo.events_of(session, inquiry_id=target.id or 0)
        assert first_events <= {e.id for e in target_events}
        source_events = inquiry_repo.events_of(session, inquiry_id=source.id or 0)
        assert [(e.type, e.actor, e.data["into"]) for e in source_events] == [
            ("merged_into", "koordinatore", second.reference)
        ]
        merged = [e for e in target_events if e.type == "merged"]
        assert len(merged) == 1 and merged[0].data["from"] == first.reference and merged[0].actor == "koordinatore"
        picture = session.exec(select(Attachment)).one()
        assert inquiry_repo.attachment_on(session, inquiry_id=target.id or 0, attachment_id=picture.id or 0)
        assert (source.status, source.merged_into_id) == ("closed", target.id)
        assert target.status == "open" and target.due_at == first.due_at, "the earlier due date stands"
        pending = session.exec(
            select(DeadlineAlarm).where(
                col(DeadlineAlarm.fired_at).is_(None), col(DeadlineAlarm.inquiry_id).in_([source.id, target.id])
            )
        ).all()
        assert {a.inquiry_id for a in pending} == {target.id}, "no alarm of the source is left"
        overdue = [a for a in pending if a.kind == "overdue"]
        assert [a.fire_at for a in overdue] == [first.due_at], "the alarms are those of the date that stands"


def test_a_reply_about_the_merged_inquiry_lands_on_the_target(world: World) -> None:
    first, second, _anna = world.inquiries()
    world.merge(first.reference, second.reference)
    with Session(world.office.engine) as session:
        ack = session.exec(
            select(Outbox).where(Outbox.inquiry_id == first.id, Outbox.kind == "client_ack")
        ).first()  # fmt: skip
    assert ack is not None and ack.external_id, "the first inquiry was acknowledged by e-mail"
    # By the reference in the subject, and by our acknowledgement's Message-ID (the outbox row
    # stays with the merged inquiry).
    world.receive(mail(JANIS, f"Re: [{first.reference}] Atkritumi", "Vai ir ziņas?", Message_ID="<r1@client.example>"))
    world.receive(mail(JANIS, "Re: jūsu pieprasījums", "Paldies, gaidu.", Message_ID="<r2@client.example>",
                       In_Reply_To=f"<{ack.external_id.removeprefix('mid:')}>"))  # fmt: skip
    assert len(world.inquiries()) == 3, "no new inquiry"
    with Session(world.office.engine) as session:
        on_target = {m.external_id for m in inquiry_repo.messages_of(session, inquiry_id=second.id or 0)}
        source = session.get(Inquiry, first.id)
        assert source is not None and source.status == "closed"
    assert {"mid:r1@client.example", "mid:r2@client.example"} <= on_target


def test_refusals(world: World) -> None:
    first, second, anna = world.inquiries()
    for source, target, why in (
        (first, first, "itself"),
        (first, anna, "different clients"),
    ):
        with pytest.raises(InquiryError, match=why):
            world.merge(source.reference, target.reference)
    with transaction(world.office.sessions) as session:
        complaint = session.get(Inquiry, first.id)
        assert complaint is not None
        complaint.kind = "complaint"
        session.add(complaint)
    for source, target in ((first, second), (second, first)):
        with pytest.raises(InquiryError, match="a complaint is merged only with a complaint"):
            world.merge(source.reference, target.reference)
    with transaction(world.office.sessions) as session:
        other = session.get(Inquiry, second.id)
        assert other is not None
        other.kind = "complaint"
        session.add(other)
    world.merge(second.reference, first.reference)  # two complaints of one client are one
    with pytest.raises(InquiryError, match="already merged"):
        world.merge(second.reference, first.reference)
    with pytest.raises(InquiryError, match="merge into that one"):
        world.merge(first.reference, second.reference)


def test_an_answered_target_is_open_again_when_the_source_was_open(world: World) -> None:
    first, second, _anna = world.inquiries()
    with transaction(world.office.sessions) as session:
        answered = session.get(Inquiry, first.id)
        assert answered is not None
        answered.status, answered.answered_at = "answered", world.office.clock()
        session.add(answered)
    world.merge(second.reference, first.reference)
    with Session(world.office.engine) as session:
        target = session.get(Inquiry, first.id)
        assert target is not None and target.status == "open" and target.due_at == first.due_at
        reopened = session.exec(select(Event).where(Event.inquiry_id == first.id, Event.type == "reopened")).all()
        assert [e.data["was"] for e in reopened] == ["answered"]


def test_a_chain_of_merges_is_followed_and_a_loop_ends(world: World) -> None:
    first, second, _anna = world.inquiries()
    with transaction(world.office.sessions) as session:
        third = Inquiry(reference="GK-2026-999999", token="t-999", contact_id=first.contact_id, channel="phone",
                        received_at=world.office.clock(), due_at=world.office.clock() + timedelta(days=3))  # fmt: skip
        session.add(third)
    references = [i.reference for i in world.inquiries()]
    world.merge(first.reference, second.reference)
    world.merge(second.reference, references[-1])
    with transaction(world.office.sessions) as session:
        start = session.get(Inquiry, first.id)
        assert start is not None
        assert merge_repo.final_inquiry(session, start).reference == "GK-2026-999999"
        messages = session.exec(select(func.count(col(Message.id))).where(Message.inquiry_id == start.id)).one()
        assert messages == 0
        # A loop made by hand (the service cannot make one) ends instead of running forever.
        last = session.exec(select(Inquiry).where(Inquiry.reference == "GK-2026-999999")).one()
        last.merged_into_id = first.id
        session.add(last)
        session.flush()
        assert merge_repo.final_inquiry(session, start).reference in {second.reference, "GK-2026-999999"}


def test_a_merged_inquiry_is_counted_once_in_the_figures(world: World) -> None:
    span = figures_repo.Span(
        start=world.office.clock() - timedelta(days=7), end=world.office.clock() + timedelta(days=1),
        now=world.office.clock(),
    )  # fmt: skip
    with Session(world.office.engine) as session:
        before = figures_repo.total_tally(session, span=span)
    first, second, _anna = world.inquiries()
    world.merge(first.reference, second.reference)
    with Session(world.office.engine) as session:
        after = figures_repo.total_tally(session, span=span)
    assert (before.received, before.open) == (3, 3)
    assert (after.received, after.open, after.answered, after.overdue) == (2, 2, 0, 0)


def test_a_complaint_is_not_merged_into_one_its_named_employee_handles(world: World) -> None:
    first, second, _anna = world.inquiries()
    with transaction(world.office.sessions) as session:
        for inquiry in (session.get(Inquiry, first.id), session.get(Inquiry, second.id)):
            assert inquiry is not None
            inquiry.kind = "complaint"
            session.add(inquiry)
        routed = session.exec(select(Event).where(Event.inquiry_id == first.id, Event.type == "routed")).one()
        routed.data = {**routed.data, "facts": {**routed.data.get("facts", {}), "employees_named": ["atkritumi-1"]}}
        session.add(routed)
    assert second.employee_id is not None
    with pytest.raises(InquiryError, match="names atkritumi-1, who handles"):
        world.merge(first.reference, second.reference)


def test_a_waiting_target_runs_again_when_an_open_inquiry_joins_it(world: World) -> None:
    first, second, _anna = world.inquiries()
    with transaction(world.office.sessions) as session:
        from ingest.inquiries.clock import pause_clock

        target = session.get(Inquiry, second.id)
        assert target is not None
        pause_clock(session, inquiry=target, actor=Actor.employee("atkritumi-1"), now=world.office.clock())
    world.office.clock.now += timedelta(hours=1)
    world.merge(first.reference, second.reference)
    with Session(world.office.engine) as session:
        target = session.get(Inquiry, second.id)
        assert target is not None and target.status == "open" and target.clock_paused_at is None
        assert target.due_at == first.due_at, "the open source's earlier due date stands"
        pending = session.exec(
            select(DeadlineAlarm).where(DeadlineAlarm.inquiry_id == second.id, col(DeadlineAlarm.fired_at).is_(None))
        ).all()
        assert pending, "the clock runs: reminders are scheduled"


def test_one_answered_in_time_and_reopened_by_a_thank_you_is_not_missed_too(world: World) -> None:
    first, _second, _anna = world.inquiries()
    assert first.due_at is not None
    with transaction(world.office.sessions) as session:
        reopened = session.get(Inquiry, first.id)
        assert reopened is not None
        reopened.answered_at, reopened.status = first.due_at - timedelta(hours=1), "open"  # "Paldies!" reopened it
        session.add(reopened)
    span = figures_repo.Span(start=first.received_at - timedelta(days=1), end=first.received_at + timedelta(days=1),
                             now=first.due_at + timedelta(days=1))  # fmt: skip
    with Session(world.office.engine) as session:
        tally = figures_repo.received_tally(session, span=span, where=Inquiry.id == first.id)
    assert (tally.answered_on_time, tally.missed, tally.overdue) == (1, 0, 1), tally


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_reply_arriving_during_a_merge_waits_and_lands_on_the_target(make_settings: Any) -> None:
    """PostgreSQL runs the pipeline and a merge side by side: the reply threading onto the merged
    inquiry waits for the merge's row locks and then goes on to the target, never onto the closed one."""
    import threading

    with pipeline_office(make_settings()) as o:
        w = World(o)
        w.receive(mail(JANIS, "Atkritumi", "Netiek izvesti atkritumi.", Message_ID="<a@client.example>"))
        o.clock.now += timedelta(days=2)  # later than the threading window: a second inquiry
        w.receive(mail(JANIS, "Konteiners", "Konteiners salauzts.", Message_ID="<b@client.example>"))
        first, second = w.inquiries()
        locked, done = threading.Event(), threading.Event()

        def merging() -> None:
            with transaction(o.sessions) as session:
                src = session.exec(select(Inquiry).where(Inquiry.reference == first.reference)).one()
                tgt = session.exec(select(Inquiry).where(Inquiry.reference == second.reference)).one()
                merge(session, source=src, target=tgt, actor=Actor.employee("koordinatore"),
                      calendar=o.pipeline.office.router.calendar, policy=o.pipeline.office.deadline_policy,
                      now=o.clock())  # fmt: skip
                locked.set()
                done.wait(1.0)  # the reply comes in while the merge is not yet committed

        worker = threading.Thread(target=merging)
        worker.start()
        assert locked.wait(10)
        w.receive(mail(JANIS, f"Re: [{first.reference}] Atkritumi", "Vai ir ziņas?", Message_ID="<r@client.example>"))
        done.set()
        worker.join(10)
        with Session(o.engine) as session:
            source = session.get(Inquiry, first.id)
            assert source is not None and (source.status, source.merged_into_id) == ("closed", second.id)
            reply = session.exec(select(Message).where(Message.external_id == "mid:r@client.example")).one()
            assert reply.inquiry_id == second.id, "the reply is on the inquiry that stays"
            assert inquiry_repo.messages_of(session, inquiry_id=first.id or 0) == []
