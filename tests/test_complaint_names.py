"""A complaint's later messages are read for names too (policy 13): the named employee loses sight
of it, and an inquiry held by an employee it now names goes to someone it does not name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.api.auth import Principal
from ingest.inquiries.access import can_see
from ingest.inquiries.reassign import reassign
from ingest.pipeline.runner import Outcome
from storage.actors import Actor
from storage.db import transaction
from storage.models import Employee, Event, Inquiry, Outbox
from storage.staff_models import Role
from tests.pipeline_office import PipelineOffice, pipeline_office


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings()) as office:
        yield office


def mail(n: int, text: str, *, reply_to: str | None = None) -> bytes:
    thread = f"In-Reply-To: <c{reply_to}@client.example>\r\n" if reply_to else ""
    return (
        "From: Anna Liepiņa <anna@client.example>\r\nTo: klienti@example.lv\r\n"
        f"Subject: Sūdzība\r\nMessage-ID: <c{n}@client.example>\r\n{thread}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    ).encode()


def deliver(world: PipelineOffice, raw: bytes) -> Outcome:
    stored = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=raw, meta={})
    return world.pipeline.process(stored.id)


def principal(session: Session, key: str) -> Principal:
    employee = session.exec(select(Employee).where(Employee.key == key)).one()
    assert employee.id is not None
    return Principal(employee_id=employee.id, key=key, role=Role.EMPLOYEE, token_id=0, remote_addr=None)


def test_a_name_in_a_later_message_is_recorded_and_takes_the_complaint_from_that_employee(
    world: PipelineOffice,
) -> None:
    first = "Sūdzība: konteiners netika iztukšots jau trešo nedēļu, esmu ļoti neapmierināta."
    assert deliver(world, mail(1, first)) == Outcome.NEW_INQUIRY
    with transaction(world.sessions) as session:  # the board gives it to the waste specialist
        inquiry = session.exec(select(Inquiry)).one()
        assert inquiry.kind == "complaint"
        reassign(session, inquiry=inquiry, to_employee="atkritumi-2", actor=Actor.employee("valde"), reason="x",
                 notices=world.pipeline.notices, calendar=world.pipeline.router.calendar,
                 policy=world.pipeline.deadline_policy, now=world.clock.now)  # fmt: skip
    with Session(world.engine) as session:
        assert can_see(session, principal(session, "atkritumi-2"), session.exec(select(Inquiry)).one())
    # The client names that specialist only now, in Cyrillic and in a Russian case form.
    assert deliver(world, mail(2, "И ещё: Петровой я звонила дважды.", reply_to="1")) == Outcome.THREADED
    with Session(world.engine) as session:
        named = session.exec(select(Event).where(Event.type == "named_in_complaint")).all()
        assert [e.data["facts"]["employees_named"] for e in named] == [["atkritumi-2"]]
        inquiry = session.exec(select(Inquiry)).one()
        holder = session.get(Employee, inquiry.employee_id)
        assert holder is not None and holder.key == "valde"  # back with the board member
        assert not can_see(session, principal(session, "atkritumi-2"), inquiry)  # though they held it


def test_a_complaint_that_comes_to_name_its_holder_goes_to_someone_it_does_not_name(world: PipelineOffice) -> None:
    assert (
        deliver(world, mail(1, "Sūdzība par atkritumu izvešanu: konteiners netika iztukšots.")) == Outcome.NEW_INQUIRY
    )
    # Now the board member herself is named: the complaint cannot stay with her.
    assert deliver(world, mail(2, "Un valdes locekle Zariņa man neatbildēja.", reply_to="1")) == Outcome.THREADED
    with Session(world.engine) as session:
        inquiry = session.exec(select(Inquiry)).one()
        holder = session.get(Employee, inquiry.employee_id)
        assert holder is not None and holder.key == "koordinatore"
        kinds = [row.kind for row in session.exec(select(Outbox).where(Outbox.inquiry_id == inquiry.id)).all()]
        assert "client_redirect" in kinds
        assert session.exec(select(Event).where(Event.type == "reassigned")).one().data["to"] == "koordinatore"
