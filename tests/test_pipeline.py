"""The pipeline on its own: parking and retrying, claiming once, automatic mail, employees from config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from channels.email import EmailChannel
from ingest.pipeline.runner import Outcome
from ingest.service import sync_employees
from storage.db import session_factory
from storage.models import Employee, Inquiry, Outbox, Receipt
from tests.pipeline_office import T0, Clock, pipeline_office  # noqa: F401  (Clock, T0: used by other test files)

MAIL = (
    b"From: Anna <anna@client.example>\r\nTo: klienti@example.lv\r\nSubject: Lifts\r\n"
    b"Message-ID: <lift-1@client.example>\r\n\r\nM\xc4\x81j\xc4\x81 nestr\xc4\x81d\xc4\x81 lifts.\r\n"
)


@dataclass
class FlakyEmail:
    """The real e-mail channel, failing the first ``failures`` times (a database or bug stand-in)."""

    failures: int
    inner: EmailChannel = field(default_factory=EmailChannel)
    name: str = "email"

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        return self.inner.natural_id(raw, meta)

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("simulated failure")
        return self.inner.normalise(raw, meta)


@pytest.fixture
def world(make_settings: Any) -> Any:
    with pipeline_office(make_settings()) as o:
        yield o.settings, o.engine, o.pipeline, o.store, o.clock


def count(engine: Any, model: Any) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


def receipt(engine: Any, receipt_id: int) -> Receipt:
    with Session(engine) as session:
        row = session.get(Receipt, receipt_id)
        assert row is not None
        return row


def test_failed_receipt_is_parked_then_retried_to_success(world: Any) -> None:
    settings, engine, pipeline, store, clock = world
    pipeline.channels = {"email": FlakyEmail(failures=1)}
    stored = store.store_sync(pipeline.channels["email"], source="smtp", raw=MAIL, meta={})

    assert pipeline.process_due() == 1
    parked = receipt(engine, stored.id)
    assert parked.status == "parked" and parked.attempts == 1
    assert parked.last_error == "RuntimeError: simulated failure"
    assert parked.next_attempt_at is not None and parked.next_attempt_at > clock.now
    assert count(engine, Inquiry) == 0 and count(engine, Outbox) == 0  # the failed transaction left nothing

    assert pipeline.process_due() == 0  # not due yet
    clock.now = parked.next_attempt_at + timedelta(seconds=1)
    assert pipeline.process_due() == 1
    done = receipt(engine, stored.id)
    assert done.status == "processed" and done.last_error is None and done.message_id is not None
    assert count(engine, Inquiry) == 1 and count(engine, Outbox) == 2  # the employee's notice, the client's ack


def test_receipt_stays_parked_after_the_last_attempt(world: Any) -> None:
    settings, engine, pipeline, store, clock = world
    pipeline.channels = {"email": FlakyEmail(failures=100)}
    stored = store.store_sync(pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
    for _ in range(settings.pipeline.max_attempts):
        clock.now += timedelta(hours=2)
        pipeline.process_due()
    final = receipt(engine, stored.id)
    assert final.status == "parked"
    assert final.attempts == settings.pipeline.max_attempts
    assert final.next_attempt_at is None  # waits for a person, is not dropped
    clock.now += timedelta(days=30)
    assert pipeline.process_due() == 0
    assert final.raw == MAIL


def test_a_receipt_is_processed_once_even_if_asked_twice(world: Any) -> None:
    _, engine, pipeline, store, _ = world
    stored = store.store_sync(pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
    assert pipeline.process(stored.id) == Outcome.NEW_INQUIRY
    assert pipeline.process(stored.id) == Outcome.SKIPPED
    assert count(engine, Inquiry) == 1


def test_same_message_id_from_another_receiver_is_a_duplicate(world: Any) -> None:
    _, engine, pipeline, store, _ = world
    first = store.store_sync(pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
    again = store.store_sync(pipeline.channels["email"], source="imap", raw=MAIL + b"\r\n", meta={})
    assert again.duplicate and again.id == first.id
    pipeline.process_due()
    assert count(engine, Inquiry) == 1 and count(engine, Receipt) == 1


def test_automatic_reply_opens_no_inquiry(world: Any) -> None:
    _, engine, pipeline, store, _ = world
    auto = MAIL.replace(b"Subject: Lifts", b"Auto-Submitted: auto-replied\r\nSubject: Out of office").replace(
        b"lift-1", b"ooo-1"
    )
    stored = store.store_sync(pipeline.channels["email"], source="smtp", raw=auto, meta={})
    assert pipeline.process(stored.id) == Outcome.AUTOMATIC
    assert count(engine, Inquiry) == 0 and count(engine, Outbox) == 0
    assert receipt(engine, stored.id).status == "processed"


def test_references_are_numbered_per_year(world: Any) -> None:
    _, engine, pipeline, store, clock = world
    for i in range(3):
        raw = MAIL.replace(b"lift-1", f"lift-{i + 10}".encode())
        store.store_sync(pipeline.channels["email"], source="smtp", raw=raw, meta={})
    clock.now = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    store.store_sync(pipeline.channels["email"], source="smtp", raw=MAIL.replace(b"lift-1", b"lift-99"), meta={})
    while pipeline.process_due():
        pass
    with Session(engine) as session:
        refs = sorted(i.reference for i in session.exec(select(Inquiry)).all())
    assert refs == ["GK-2026-000001", "GK-2026-000002", "GK-2026-000003", "GK-2027-000001"]


def test_employees_follow_the_config(world: Any, make_settings: Any) -> None:
    settings, engine, pipeline, *_ = world
    doc_without_roads = settings.model_copy(
        update={"employees": [e for e in settings.employees if e.key != "celi"], "topics": []}
    )
    sync_employees(session_factory(engine), doc_without_roads)
    with Session(engine) as session:
        by_key = {e.key: e for e in session.exec(select(Employee)).all()}
    assert by_key["celi"].active is False  # kept for history, no longer routed to
    assert by_key["siltums"].active is True
    assert by_key["siltums"].position == "Siltumapgādes inženieris"


def test_mail_that_waited_in_the_mailbox_counts_from_its_arrival(world: Any) -> None:
    _, engine, pipeline, store, clock = world
    arrived = T0 - timedelta(days=2)  # Monday morning; the service read it on Wednesday
    store.store_sync(
        pipeline.channels["email"], source="imap", raw=MAIL, meta={"imap_internaldate": arrived.isoformat()}
    )
    pipeline.process_due()
    with Session(engine) as session:
        inquiry = session.exec(select(Inquiry)).one()
    assert inquiry.received_at == arrived
    assert inquiry.due_at is not None and inquiry.due_at < T0 + timedelta(days=1)


def test_unreadable_mail_becomes_an_inquiry_with_the_original_attached(world: Any) -> None:
    _, engine, pipeline, store, _ = world
    raw = b"From: anna@client.example\r\nContent-Type: multipart/mixed\r\n\r\n\x00\x01\x02"
    store.store_sync(pipeline.channels["email"], source="smtp", raw=raw, meta={})
    pipeline.process_due()
    from storage.models import Attachment

    with Session(engine) as session:
        assert len(session.exec(select(Inquiry)).all()) == 1
        (original,) = session.exec(select(Attachment)).all()
    assert original.filename == "original.eml" and original.data == raw
