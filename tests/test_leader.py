"""Leadership locks: one holder per key on PostgreSQL, taken over when the holder's connection ends."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from storage.leader import NoLock, PgAdvisoryLock, leader_lock, lock_key
from tests.support import wait_until


def test_lock_key_is_stable_and_fits_bigint() -> None:
    key = lock_key("scheduler")
    assert key == lock_key("scheduler")
    assert key != lock_key("imap:user@host:993/INBOX")
    assert -(2**63) <= key < 2**63


def test_only_one_process_leads_and_the_other_takes_over(pg_database: str) -> None:
    first = PgAdvisoryLock(pg_database, role="scheduler", name="test-one-leader")
    second = PgAdvisoryLock(pg_database, role="scheduler", name="test-one-leader")
    other = PgAdvisoryLock(pg_database, role="scheduler", name="test-another-role")
    third = PgAdvisoryLock(pg_database, role="scheduler", name="test-one-leader")
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert first.try_acquire(), "asking again while leading keeps the lead"
        assert not second.try_acquire()
        assert other.try_acquire(), "another key is independent"
        assert (first.held, second.held) == (True, False)

        first.release()
        assert not first.held
        assert second.try_acquire()
        assert not first.try_acquire(), "released for good at shutdown: a late try takes nothing"
        assert not third.try_acquire()
    finally:
        for lock in (first, second, other, third):
            lock.release()


def test_a_dead_holder_connection_hands_the_lead_over(pg_database: str) -> None:
    holder = PgAdvisoryLock(pg_database, role="imap", name="test-dead-holder")
    follower = PgAdvisoryLock(pg_database, role="imap", name="test-dead-holder")
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    try:
        assert holder.try_acquire()
        assert not follower.try_acquire()
        # What a kill -9 of the holder's process amounts to for PostgreSQL: its session ends.
        with admin.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
                    "AND objsubid = 1 AND classid::bigint = :high AND objid::bigint = :low"
                ),
                {"high": (holder.key >> 32) & 0xFFFFFFFF, "low": holder.key & 0xFFFFFFFF},
            ).all()
        assert ended == [(True,)]
        # The backend exits a moment after being told to; a follower retries, as in the service.
        wait_until(follower.try_acquire, timeout=10, interval=0.1, what="the follower to take over")
        # The old holder finds out at its next check and does not claim to lead.
        assert not holder.try_acquire()
        assert not holder.held
    finally:
        holder.release()
        follower.release()
        admin.dispose()


def test_sqlite_always_leads(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    lock = leader_lock(engine, role="scheduler", name="scheduler")
    assert isinstance(lock, NoLock)
    assert lock.try_acquire() and lock.held
    lock.release()
    assert lock.held
