"""Claiming work on PostgreSQL: a row another process holds is skipped at once, never waited for."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import Session

from storage import repo
from storage.db import make_engine, migrate
from storage.models import Outbox, Receipt
from storage.types import utcnow
from tests.support import empty_pg_database


@pytest.fixture
def engine(pg_database: str):  # type: ignore[no-untyped-def]
    empty_pg_database(pg_database)
    engine = make_engine(pg_database, pool_size=4)
    migrate(engine)
    yield engine
    engine.dispose()


def test_receipt_held_by_another_worker_is_skipped_not_waited_for(engine) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with Session(engine) as session:
        ids = [
            repo.insert_receipt(
                session, channel="email", source="smtp", natural_id=f"n{i}", raw=b"x", meta={}, now=now
            )[0]
            for i in range(3)
        ]
        session.commit()
    first, second = Session(engine), Session(engine)
    try:
        assert repo.claim_receipt(first, receipt_id=ids[0], now=now)  # processing, not committed
        started = time.monotonic()
        assert not repo.claim_receipt(second, receipt_id=ids[0], now=now)
        assert time.monotonic() - started < 1, "the second worker must not block on the row"
        # What the second worker lists leaves out the row being processed.
        with Session(engine) as lister:
            assert repo.due_receipt_ids(lister, now=now, limit=10) == ids[1:]
        assert repo.claim_receipt(second, receipt_id=ids[1], now=now)
        second.commit()
        first.rollback()  # the first worker failed: its receipt is due again, for anyone
        with Session(engine) as lister:
            assert repo.due_receipt_ids(lister, now=now, limit=10) == [ids[0], ids[2]]
        with Session(engine) as check:
            assert check.get(Receipt, ids[1]).status == "processed"  # type: ignore[union-attr]
            assert repo.claim_receipt(check, receipt_id=ids[1], now=now) is False  # done already
    finally:
        first.close()
        second.close()


def test_outbox_rows_are_shared_out_between_senders(engine) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with Session(engine) as session:
        for i in range(4):
            session.add(
                Outbox(kind="staff_notification", channel="email", recipient=f"s{i}@example.lv", next_attempt_at=now)
            )
        session.commit()
    first, second = Session(engine), Session(engine)
    try:
        mine = repo.claim_outbox(first, now=now, lease=timedelta(minutes=5), limit=2)
        theirs = repo.claim_outbox(second, now=now, lease=timedelta(minutes=5), limit=10)
        assert len(mine) == 2 and len(theirs) == 2
        assert not {r.id for r in mine} & {r.id for r in theirs}
    finally:
        first.close()
        second.close()
