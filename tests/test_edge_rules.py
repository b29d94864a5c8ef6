"""Edge rules found in review: erasure matches whole addresses only, the complaint rule survives
anonymisation, shutting down answers every waiting receiver, a parked receipt never overwrites a
processed one, and the outbox records only a row it still holds."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.config import RetrySettings
from ingest.intake.group_commit import Closed, GroupCommitter
from ingest.outgoing.outbox import Attempted, OutboxSender
from ingest.pipeline.runner import park
from ingest.privacy.scrub import Identifiers, safe_event_data
from storage import repo
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Outbox, Receipt, ReceiptStatus
from tests.pipeline_office import T0


def test_erasure_matches_whole_addresses_and_numbers_only() -> None:
    ids = Identifiers.of([], extra=["ana@inbox.lv", "+37120000001"])
    assert ids.occur_in("From: Ana@Inbox.lv") and ids.occur_in("ana@inbox.lv.") and ids.occur_in("From=%2B37120000001")
    assert not ids.occur_in("diana@inbox.lv") and not ids.occur_in("ana@inbox.lvx") and not ids.occur_in("371200000012")
    assert ids.occur_in_bytes(b"To: <ana@inbox.lv>") and not ids.occur_in_bytes(b"To: <diana@inbox.lv>")


def test_anonymised_routing_keeps_which_employees_a_complaint_names() -> None:
    data = {
        "employee": "valde",
        "rule": "complaint_to_board",
        "facts": {"employees_named": ["atkritumi-1", "bad key with spaces"], "quote": "Jānis was rude"},
    }
    kept = safe_event_data(data, Identifiers.of([]))
    assert kept["facts"] == {"employees_named": ["atkritumi-1"]}
    assert "Jānis" not in str(kept)


def test_closing_answers_every_waiting_receiver() -> None:
    release = threading.Event()

    def slow_write(items: Any) -> list[str]:
        release.wait(5)
        return [f"ok {i}" for i in items]

    async def scenario() -> tuple[list[object], object]:
        committer: GroupCommitter[int, str] = GroupCommitter(slow_write)
        first = asyncio.create_task(committer.submit(1))
        await asyncio.sleep(0.05)  # the writer is committing item 1
        second = asyncio.create_task(committer.submit(2))  # waits for the next batch
        await asyncio.sleep(0.05)
        closing = asyncio.create_task(committer.close())
        await asyncio.sleep(0.05)
        late: object
        try:
            late = await committer.submit(3)
        except Closed as exc:
            late = exc
        release.set()
        await closing
        return [await first, await second], late

    done, late = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert done == ["ok 1", "ok 2"]  # submitted before close: committed and answered
    assert isinstance(late, Closed)  # after close: refused at once (451 / 503), never left waiting


@pytest.fixture
def sessions(database_url: str) -> Any:
    engine = make_engine(database_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def test_a_failure_elsewhere_never_parks_a_processed_receipt(sessions: Any) -> None:
    with transaction(sessions) as session:
        receipt_id, _ = repo.insert_receipt(
            session, channel="email", source="smtp", natural_id="mid:x@y", raw=b"x", meta={}, now=T0
        )
    with transaction(sessions) as session:
        assert repo.claim_receipt(session, receipt_id=receipt_id, now=T0)
    with transaction(sessions) as session:  # a second worker failed on its own read meanwhile
        assert park(session, receipt_id=receipt_id, exc=MemoryError(), retry=RetrySettings(), now=T0) is None
    with sessions() as session:
        receipt = session.get(Receipt, receipt_id)
    assert receipt is not None and receipt.status == ReceiptStatus.PROCESSED.value and receipt.attempts == 0


def test_the_outbox_records_only_a_row_it_still_holds(sessions: Any) -> None:
    clock = {"now": T0}
    sender = OutboxSender(
        sessions=sessions, transports={}, retry=RetrySettings(lease_seconds=60), clock=lambda: clock["now"]
    )
    with transaction(sessions) as session:
        session.add(
            Outbox(kind="staff_notification", channel="email", recipient="a@example.lv", payload={}, next_attempt_at=T0)
        )
    with transaction(sessions) as session:
        (mine,) = repo.claim_outbox(session, now=T0, lease=timedelta(seconds=60), limit=10)
    clock["now"] = T0 + timedelta(seconds=61)  # the lease ran out; another process takes the row
    with transaction(sessions) as session:
        (theirs,) = repo.claim_outbox(session, now=clock["now"], lease=timedelta(seconds=60), limit=10)
    sender.record_all([Attempted(mine, None, None)])  # the first process finally records its send: not counted
    with Session(sessions().get_bind()) as session:
        assert session.exec(select(Outbox)).one().status == "sending"  # still the other process's to record
    sender.record_all([Attempted(theirs, None, None)])
    with Session(sessions().get_bind()) as session:
        row = session.exec(select(Outbox)).one()
    assert row.status == "sent" and row.attempts == 1
