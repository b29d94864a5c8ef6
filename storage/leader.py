"""Leadership: which process runs a role that must run once (an IMAP poller per mailbox, the scheduler).

On PostgreSQL a role is held with a session-level advisory lock (``pg_try_advisory_lock``) on a
connection of its own, kept open for as long as the process leads. When the process dies its
connection closes and PostgreSQL releases the lock; a follower, which tries again every few
seconds, then takes over. No lease to renew and no table to clean: the database's own session
liveness is the lease.

The lock is a guard against wasted work, not the only guard against doubled work: the roles are
safe to run twice for a moment (receipts are deduplicated, alarms fired by a conditional UPDATE,
digests by a job marker), which matters for the short window after a leader's connection dropped
and before it notices.

On SQLite there is one process by design, so ``NoLock`` always leads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# Keys are hashed with this prefix so that they do not collide with another application's
# advisory locks on a shared server.
KEY_NAMESPACE = b"gk-ingest:"


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL's advisory lock keys are bigint)."""
    digest = hashlib.blake2b(KEY_NAMESPACE + name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class LeaderLock(Protocol):
    # A short label for logs, /health and /metrics ("imap", "scheduler"); never the full name,
    # which for a mailbox holds a user name.
    role: str

    @property
    def held(self) -> bool:
        """Whether this process led at the last check (no database call)."""
        ...

    def try_acquire(self) -> bool:
        """Lead if nobody does; True while this process leads. Cheap to call repeatedly."""
        ...

    def release(self) -> None: ...


class NoLock:
    """Single-process databases: always the leader."""

    def __init__(self, role: str) -> None:
        self.role = role

    @property
    def held(self) -> bool:
        return True

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class PgAdvisoryLock:
    """A PostgreSQL session advisory lock on a dedicated connection (outside the engine's pool)."""

    def __init__(self, url: URL | str, *, role: str, name: str, connect_timeout: int = 5) -> None:
        self.role = role
        self.key = lock_key(name)
        # NullPool: closing the connection really closes it, so a lost lock is never reused from a
        # pool, and the lock does not take a slot from the service's pool. AUTOCOMMIT: the
        # connection never sits idle inside a transaction. Keepalives: a dead peer is noticed.
        self._engine: Engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "connect_timeout": connect_timeout,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "application_name": f"gk-ingest leader {role}",
            },
        )
        self._conn: Connection | None = None
        self._held = False
        # Once released for good (shutdown), a late try from a thread still winding down must not
        # take the lock again and keep it until the process exits.
        self._closed = False
        # try_acquire runs from the poller's thread, the scheduler's and shutdown's.
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._closed:
                return False
            try:
                if self._conn is None:
                    self._conn = self._engine.connect()
                if self._held:
                    # The lock lives as long as the session: a live connection means it is still ours.
                    self._conn.execute(text("SELECT 1"))
                    return True
                got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
            except SQLAlchemyError as exc:
                if self._held:
                    log.warning("leader: lost the %s role (%s); trying to take it again", self.role, type(exc).__name__)
                else:
                    log.warning("leader: cannot check the %s role: %s", self.role, type(exc).__name__)
                self._drop()
                return False
            if got:
                log.info("leader: this process now runs the %s role", self.role)
            self._held = got
            return got

    def release(self) -> None:
        """Give the role up for good (at shutdown): a follower takes over at its next try."""
        with self._mutex:
            self._closed = True
            if self._conn is not None and self._held:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                    log.info("leader: released the %s role", self.role)
                except SQLAlchemyError:
                    pass  # closing the connection below releases it anyway
            self._drop()
            self._engine.dispose()

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            # A dead connection may fail to close; it is gone either way.
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def leader_lock(engine: Engine, *, role: str, name: str) -> LeaderLock:
    """The lock that fits the engine's database: advisory on PostgreSQL, none on SQLite."""
    if engine.dialect.name == "postgresql":
        return PgAdvisoryLock(engine.url, role=role, name=name)
    return NoLock(role)
