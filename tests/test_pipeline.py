"""The pipeline on its own: parking and retrying, claiming once, automatic mail, employees from config."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.assembly import sync_employees
from ingest.pipeline.runner import Outcome
from storage.db import session_factory
from storage.models import Employee, Inquiry, Outbox, Receipt
from tests.pipeline_office import MAIL, T0, FlakyEmail, PipelineOffice, pipeline_office, receipt


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings()) as office:
        yield office


def count(engine: Any, model: Any) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


def test_failed_receipt_is_parked_then_retried_to_success(world: PipelineOffice) -> None:
    world.pipeline.channels = {"email": FlakyEmail(failures=1)}
    stored = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=MAIL, meta={})

    assert world.pipeline.process_due() == 1
    parked = receipt(world.engine, stored.id)
    assert parked.status == "parked" and parked.attempts == 1
    assert parked.last_error == "RuntimeError: simulated failure"
    assert parked.next_attempt_at is not None and parked.next_attempt_at > world.clock.now
    assert count(world.engine, Inquiry) == 0 and count(world.engine, Outbox) == 0  # the failed transaction left nothing

    assert world.pipeline.process_due() == 0  # not due yet
    world.clock.now = parked.next_attempt_at + timedelta(seconds=1)
    assert world.pipeline.process_due() == 1
    done = receipt(world.engine, stored.id)
    assert done.status == "processed" and done.last_error is None and done.message_id is not None
    assert (
        count(world.engine, Inquiry) == 1 and count(world.engine, Outbox) == 2
    )  # the employee's notice, the client's ack


def test_receipt_stays_parked_after_the_last_attempt(world: PipelineOffice) -> None:
    world.pipeline.channels = {"email": FlakyEmail(failures=100)}
    stored = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
    for _ in range(world.settings.pipeline.max_attempts):
        world.clock.now += timedelta(hours=2)
        world.pipeline.process_due()
    final = receipt(world.engine, stored.id)
    assert final.status == "parked"
    assert final.attempts == world.settings.pipeline.max_attempts
    assert final.next_attempt_at is None  # waits for a person, is not dropped
    world.clock.now += timedelta(days=30)
    assert world.pipeline.process_due() == 0
    assert final.raw == MAIL


def test_a_receipt_is_processed_once_even_if_asked_twice(world: PipelineOffice) -> None:
    stored = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
    assert world.pipeline.process(stored.id) == Outcome.NEW_INQUIRY
    assert world.pipeline.process(stored.id) == Outcome.SKIPPED
    assert count(world.engine, Inquiry) == 1


def test_same_message_id_from_another_receiver_is_a_duplicate(world: PipelineOffice) -> None:
    first = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
    again = world.store.store_sync(world.pipeline.channels["email"], source="imap", raw=MAIL + b"\r\n", meta={})
    assert again.duplicate and again.id == first.id
    world.pipeline.process_due()
    assert count(world.engine, Inquiry) == 1 and count(world.engine, Receipt) == 1


def test_automatic_reply_opens_no_inquiry(world: PipelineOffice) -> None:
    auto = MAIL.replace(b"Subject: Lifts", b"Auto-Submitted: auto-replied\r\nSubject: Out of office").replace(
        b"lift-1", b"ooo-1"
    )
    stored = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=auto, meta={})
    assert world.pipeline.process(stored.id) == Outcome.AUTOMATIC
    assert count(world.engine, Inquiry) == 0 and count(world.engine, Outbox) == 0
    assert receipt(world.engine, stored.id).status == "processed"


def test_references_are_numbered_per_year(world: PipelineOffice) -> None:
    # Four clients: one client's mails the same day would be one inquiry (ingest/pipeline/joining.py).
    for i in range(3):
        raw = MAIL.replace(b"lift-1", f"lift-{i + 10}".encode()).replace(b"anna@", f"anna{i}@".encode())
        world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=raw, meta={})
    world.clock.now = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    world.store.store_sync(
        world.pipeline.channels["email"], source="smtp", raw=MAIL.replace(b"lift-1", b"lift-99"), meta={}
    )
    while world.pipeline.process_due():
        pass
    with Session(world.engine) as session:
        refs = sorted(i.reference for i in session.exec(select(Inquiry)).all())
    assert refs == ["GK-2026-000001", "GK-2026-000002", "GK-2026-000003", "GK-2027-000001"]


def test_employees_follow_the_config(world: PipelineOffice, make_settings: Any) -> None:
    doc_without_roads = world.settings.model_copy(
        update={"employees": [e for e in world.settings.employees if e.key != "celi"], "topics": []}
    )
    sync_employees(session_factory(world.engine), doc_without_roads)
    with Session(world.engine) as session:
        by_key = {e.key: e for e in session.exec(select(Employee)).all()}
    assert by_key["celi"].active is False  # kept for history, no longer routed to
    assert by_key["siltums"].active is True
    assert by_key["siltums"].position == "Siltumapgādes inženieris"


def test_mail_that_waited_in_the_mailbox_counts_from_its_arrival(world: PipelineOffice) -> None:
    arrived = T0 - timedelta(days=2)  # Monday morning; the service read it on Wednesday
    world.store.store_sync(
        world.pipeline.channels["email"], source="imap", raw=MAIL, meta={"imap_internaldate": arrived.isoformat()}
    )
    world.pipeline.process_due()
    with Session(world.engine) as session:
        inquiry = session.exec(select(Inquiry)).one()
    assert inquiry.received_at == arrived
    assert inquiry.due_at is not None and inquiry.due_at < T0 + timedelta(days=1)


def test_unreadable_mail_becomes_an_inquiry_with_the_original_attached(world: PipelineOffice) -> None:
    raw = b"From: anna@client.example\r\nContent-Type: multipart/mixed\r\n\r\n\x00\x01\x02"
    world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=raw, meta={})
    world.pipeline.process_due()
    from storage.models import Attachment

    with Session(world.engine) as session:
        assert len(session.exec(select(Inquiry)).all()) == 1
        (original,) = session.exec(select(Attachment)).all()
    assert original.filename == "original.eml" and original.data == raw
