"""A call logged on an inquiry while it is merged, and a call back settled twice at once.

Logging a call finds the inquiry and locks its row before it decides anything
(storage/merge_repo.py ``locked_final``): a merge committed since the inquiry was read sends the
call on to the final inquiry. Settling a call back locks the inquiry's row first, so an answer
and a logged call at the same time settle the task once (one ``call_back_done`` or
``call_back_cancelled``, never both).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from ingest.assembly import staff_api_context
from ingest.inquiries import call_back
from ingest.inquiries.call_logging import log_on_inquiry
from ingest.inquiries.interactions import Interaction
from storage import merge_repo
from storage.actors import Actor
from storage.call_back_repo import SETTLED
from storage.db import transaction
from storage.models import Employee, Event, Inquiry, Message
from tests.client_desk_helpers import EMPLOYEE, ClientDesk, client_desk

pytestmark = pytest.mark.slow  # a running service

ANNA, BRUNO = "+37129111222", "+37129333444"


@pytest.fixture
def desk(make_settings: Any) -> Iterator[ClientDesk]:
    with client_desk(make_settings) as desk:
        yield desk


def owed_call_back(desk: ClientDesk, sid: str, number: str) -> Inquiry:
    """A client's WhatsApp inquiry, then a missed call: a call-back task on it."""
    desk.whatsapp(sid, number, "Labdien, pie mājas netiek izvesti atkritumi.")
    reference = desk.newest_reference()
    desk.clock.advance(timedelta(minutes=10))
    desk.missed_call("CA" + sid, number)
    inquiry = desk.inquiry(reference)
    assert desk.rows(Event, Event.type == "call_back_task", Event.inquiry_id == inquiry.id)
    return inquiry


def test_a_call_logged_on_an_inquiry_merged_meanwhile_lands_on_the_final_one(desk: ClientDesk) -> None:
    final = owed_call_back(desk, "SM1", ANNA)
    desk.whatsapp("SM2", BRUNO, "Labdien, konteiners ir pilns.")
    merged = desk.inquiry(desk.newest_reference())
    entry = Interaction(channel="phone", text="Atzvanīju klientam.", received_at=desk.clock(), client_name="",
                        email=None, phone=None, topic=None)  # fmt: skip
    service = desk.service
    office = staff_api_context(service.settings, pipeline=service.pipeline, wake_outbox=lambda: None).desk
    with transaction(service.sessions) as session:
        read = session.get(Inquiry, merged.id)  # read as the caller found it, not merged yet
        assert read is not None and read.merged_into_id is None
        # ... and merged by another transaction before the call is stored (its committed row as
        # a READ COMMITTED statement sees it; the session's object is not told).
        session.execute(update(Inquiry).where(Inquiry.id == merged.id)  # type: ignore[arg-type]
                        .values(merged_into_id=final.id, status="closed"),
                        execution_options={"synchronize_session": False})  # fmt: skip
        assert read.merged_into_id is None
        on = merge_repo.locked_final(session, read)
        assert on.id == final.id
        logger = session.get(Employee, on.employee_id)
        assert logger is not None and logger.key == EMPLOYEE
        logged = log_on_inquiry(session, entry=entry, inquiry=on, logger=logger, desk=office, now=desk.clock())
        assert logged.inquiry.id == final.id and logged.call_back_done
    (message,) = desk.rows(Message, Message.text == "Atzvanīju klientam.")
    assert message.inquiry_id == final.id
    (done,) = desk.rows(Event, Event.type == "call_back_done")
    assert done.inquiry_id == final.id


def test_an_answer_and_a_logged_call_at_once_settle_the_call_back_once(desk: ClientDesk) -> None:
    inquiry = owed_call_back(desk, "SM3", ANNA)
    assert inquiry.id is not None
    inquiry_id, actor, now = inquiry.id, Actor.employee(EMPLOYEE), desk.clock()
    second: list[call_back.Settled | None] = []

    def answer() -> None:  # the answer, in a transaction of its own
        with transaction(desk.service.sessions) as session:
            second.append(call_back.settle(session, inquiry_id=inquiry_id, reason="answered", actor=actor, now=now))

    with transaction(desk.service.sessions) as session:
        first = call_back.settle(session, inquiry_id=inquiry_id, reason="call_logged", actor=actor, now=now)
        assert first is not None and first.tasks
        other = threading.Thread(target=answer)
        other.start()
        time.sleep(0.5)
        # It waits for this transaction (PostgreSQL: the inquiry's row lock; SQLite: the write lock).
        assert other.is_alive() and second == []
    other.join(timeout=30)
    assert not other.is_alive() and second == [None]
    settled = desk.rows(Event, Event.type.in_(SETTLED))  # type: ignore[attr-defined]
    assert [(e.type, e.data["reason"]) for e in settled] == [("call_back_done", "call_logged")]
