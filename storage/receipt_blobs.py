"""Storing a large raw receipt from chunks, holding as little of it in memory as the database allows.

SQLite writes a blob in place: the row is inserted with a ``zeroblob`` of the message's size and
the bytes are written into it chunk by chunk (incremental blob I/O, in the same transaction). SQLite
still builds the row's record in memory once (its zeroblob is kept virtual only in a table's last
column, and ``raw`` is not), so a 28 MiB message costs about that once, not a copy per layer as
bytes bound to a statement do. PostgreSQL's ``bytea`` takes a value only whole: there the message
is read into one ``bytes`` (one copy, not the several a list of lines, their join and a decoded
text cost) and inserted as usual.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func
from sqlmodel import Session

from storage import repo


def insert_receipt_in_chunks(
    session: Session,
    *,
    channel: str,
    source: str,
    natural_id: str,
    size: int,
    chunks: Callable[[], Iterable[bytes]],
    whole: Callable[[], bytes],
    meta: dict[str, Any],
    now: datetime,
) -> tuple[int, bool]:
    """:func:`storage.repo.insert_receipt` of ``size`` bytes, written from ``chunks()`` on SQLite
    and read at once with ``whole()`` elsewhere; (id, created)."""
    if session.get_bind().dialect.name != "sqlite":
        return repo.insert_receipt(session, channel=channel, source=source, natural_id=natural_id, raw=whole(),
                                   meta=meta, now=now)  # fmt: skip
    # insert_receipt hands ``raw`` to the statement as it is: an SQL expression serves as well as bytes.
    zeroes = cast("bytes", func.zeroblob(size))
    receipt_id, created = repo.insert_receipt(session, channel=channel, source=source, natural_id=natural_id,
                                              raw=zeroes, meta=meta, now=now)  # fmt: skip
    if created:  # a duplicate stores nothing: its bytes are not even read
        connection = session.connection().connection.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        written = 0
        with connection.blobopen("receipt", "raw", receipt_id) as blob:
            for chunk in chunks():
                blob.write(chunk)
                written += len(chunk)
        if written != size:
            raise ValueError(f"receipt {receipt_id}: {written} bytes read back of {size}")
    return receipt_id, created
