"""Engine and session factories, and schema migration.

Nothing here runs at import time: the service builds one engine from its
settings and passes it (or a session factory) to whatever needs the database.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from storage.leader import lock_key

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# A writer that waited this long for the SQLite write gate is logged, with who held it: a webhook
# must be answered well within Twilio's 15 s.
SLOW_GATE_SECONDS = 5.0

SessionFactory = Callable[[], Session]
# Execution option marking a connection's transaction as one that writes (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "ingest_write"
WRITE_GATE = "ingest_write_gate"


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and write-locking transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # hide_parameters: a database error's text would otherwise quote the values (message text,
    # addresses), and such errors are logged.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, hide_parameters=True)


def _set_wal(cursor: Any, patience: float = 30.0) -> None:
    """WAL mode, which the file keeps once set. Connections opening a new file at once (processes
    started together) each ask for it, and the switch answers "database is locked" at once rather
    than wait in the busy handler: asked again until one of them has made it."""
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _set_wal(cursor)
        # FULL: a committed receipt survives a power loss, not only a process crash; the
        # service acknowledges mail and webhooks only after that commit.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted and overwritten content is zeroed in the file, not left in free pages and cells:
        # an erased client's data must not stay readable (some builds default to it, not all).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # After a checkpoint the write-ahead log is cut back to this size instead of staying as
        # large as its largest burst (a few big attachments would otherwise keep the disk full).
        cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction (``transaction()``) takes the write lock up front: a deferred one
        # that later writes can fail at once with SQLITE_BUSY when another connection wrote
        # meanwhile. Reads stay deferred, so they never wait for a writer (WAL).
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

    # Writers of this process queue on a lock of their own rather than on SQLite's busy handler,
    # which polls with sleeps of up to 100 ms: a webhook waiting for its commit gets the database
    # as soon as the pipeline's transaction ends.
    setattr(engine, WRITE_GATE, FairLock())
    return engine


class FairLock:
    """A re-entrant lock granted in the order it was asked for.

    ``threading.RLock`` is not fair: the pipeline, which ends one batch's transaction and at once
    begins the next, could take it again before a webhook that waited all along (measured: requests
    waiting over a minute in a flood). Here whoever asked first gets it next.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[object] = deque()
        self._since = 0.0  # when the current owner got it

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:
                self._depth += 1
                return
            ticket, asked = object(), time.monotonic()
            self._queue.append(ticket)
            while self._owner is not None or self._queue[0] is not ticket:
                self._changed.wait()
            self._queue.popleft()
            self._owner, self._depth = me, 1
            self._since = time.monotonic()
            waited = self._since - asked
        if waited > SLOW_GATE_SECONDS:
            log.warning("%s waited %.1f s for the write gate", threading.current_thread().name, waited)

    def __exit__(self, *_: object) -> None:
        held = 0.0
        with self._changed:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                held = time.monotonic() - self._since
                self._changed.notify_all()
        if held > SLOW_GATE_SECONDS:
            log.warning("%s held the write gate for %.1f s", threading.current_thread().name, held)


def checkpoint_wal(engine: Engine, *, vacuum: bool = False) -> bool | None:
    """SQLite: copy the write-ahead log into the database and cut it to nothing, so that rows
    overwritten since (an erasure) survive in no old WAL frame; with ``vacuum`` first rebuild the
    file, because secure_delete zeroes freed cells but not always the stale bytes a page keeps when
    its cells are moved. True when the log is empty now, False when a reader kept it busy (or the
    database was too busy to rebuild), None on other databases (PostgreSQL: VACUUM is the DBA's)."""
    if engine.dialect.name != "sqlite":
        return None
    # The DBAPI connection, outside any transaction (isolation_level None, see _on_connect): a
    # checkpoint cannot empty the log from inside a read transaction of its own.
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        rebuilt = True
        if vacuum:
            try:
                cursor.execute("VACUUM")
            except sqlite3.OperationalError:  # busy beyond busy_timeout: the next erasure tries again
                rebuilt = False
        busy, _frames, _copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        raw.close()
    return rebuilt and int(busy) == 0


def session_factory(engine: Engine) -> SessionFactory:
    def make() -> Session:
        return Session(engine, expire_on_commit=False)

    return make


@contextmanager
def transaction(sessions: SessionFactory) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error.

    Anything that writes goes through here; a plain ``sessions()`` is for reading.
    """
    with sessions() as session:
        bind = session.get_bind()
        gate = getattr(getattr(bind, "engine", bind), WRITE_GATE, None) or nullcontext()
        with gate:
            session.connection(execution_options={WRITE_OPTION: True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def one_at_a_time(connection: Connection, name: str) -> None:
    """Start-up work that processes must not do side by side (migrating, writing the configured
    staff): on PostgreSQL the others wait here until this transaction ends, then find it done. On
    SQLite a write transaction (``WRITE_OPTION``) already holds the database's one write lock."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection, connection.begin():
        # Processes started together on a new database (``serve`` and ``serve --roles worker``)
        # would each create alembic_version and the tables: one migrates, the others wait.
        one_at_a_time(connection, "migrations")
        cfg.attributes["connection"] = connection
        # "heads": branches written side by side apply together until a merge revision joins them.
        command.upgrade(cfg, "heads")
