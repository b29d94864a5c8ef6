"""Storing what a receiver got, durably, before it is acknowledged.

Receivers that wait for their commit (webhooks, the SMTP listener) go through
``store``, which commits concurrent receipts together (``ingest/group_commit``);
pollers and importers that already hold a batch use ``store_batch_sync``. A message the SMTP
listener spooled to disk is stored from its file (``storage/receipt_blobs.py``), never read whole
where the database allows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from channels.base import Channel
from ingest.intake.group_commit import GroupCommitter
from ingest.intake.spool import SpooledMessage
from storage import receipt_blobs, repo
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredReceipt:
    id: int
    natural_id: str
    duplicate: bool  # an earlier receipt with the same natural id exists; nothing new was stored


@dataclass(frozen=True)
class IncomingReceipt:
    channel: Channel
    source: str
    raw: bytes | SpooledMessage  # spooled: an SMTP message too large to hold in memory
    meta: dict[str, Any]

    @property
    def size(self) -> int:
        return self.raw.size if isinstance(self.raw, SpooledMessage) else len(self.raw)


@dataclass
class ReceiptStore:
    sessions: SessionFactory
    clock: Callable[[], datetime]
    # Called after each new receipt is committed (wakes the pipeline).
    on_stored: Callable[[], None] = lambda: None
    # Receipts waiting in ``store`` are committed together, up to this many at once.
    max_batch: int = 256
    _committer: GroupCommitter[IncomingReceipt, StoredReceipt] | None = field(default=None, init=False, repr=False)

    def store_sync(self, channel: Channel, *, source: str, raw: bytes, meta: dict[str, Any]) -> StoredReceipt:
        (stored,) = self.store_many_sync([IncomingReceipt(channel, source, raw, meta)])
        return stored

    def store_many_sync(self, items: Sequence[IncomingReceipt]) -> list[StoredReceipt]:
        """Store receipts of any channels in ONE transaction; duplicates (also within it) store nothing."""
        now = self.clock()
        with transaction(self.sessions) as session:
            results = _insert_all(session, items, now=now)
        if any(not r.duplicate for r in results):
            self.on_stored()
        for item, stored in zip(items, results, strict=True):
            log.info(
                "receipt %s %s from %s (%d bytes)",
                stored.id,
                "duplicate" if stored.duplicate else "stored",
                item.source,
                item.size,
            )
        return results

    def store_batch_sync(
        self,
        channel: Channel,
        *,
        source: str,
        items: Sequence[tuple[bytes, dict[str, Any]]],
        also: Callable[[Session], None] | None = None,
        wake: bool = True,
    ) -> list[StoredReceipt]:
        """Store several receipts of one channel in ONE transaction, with ``also`` (e.g. a mailbox position).

        Either all of it is committed or none. ``wake=False`` leaves calling ``on_stored`` to the
        caller (the IMAP poller marks the messages on the server first).
        """
        now = self.clock()
        with transaction(self.sessions) as session:
            results = _insert_all(
                session, [IncomingReceipt(channel, source, raw, meta) for raw, meta in items], now=now
            )
            if also is not None:
                also(session)
        new = [r.id for r in results if not r.duplicate]
        if new and wake:
            self.on_stored()
        log.debug("receipts from %s: %d stored, %d duplicate", source, len(new), len(results) - len(new))
        return results

    async def store(
        self, channel: Channel, *, source: str, raw: bytes | SpooledMessage, meta: dict[str, Any]
    ) -> StoredReceipt:
        """Store one receipt; returns once it is committed (together with whatever else was waiting).

        A spooled message is held until its commit is done, even when the caller goes away first
        (the SMTP client disconnected): the commit is still reading its file."""
        if self._committer is None:
            self._committer = GroupCommitter(self.store_many_sync, max_batch=self.max_batch)
        if isinstance(raw, SpooledMessage):
            raw.retain()
        commit = asyncio.ensure_future(self._committer.submit(IncomingReceipt(channel, source, raw, meta)))
        if isinstance(raw, SpooledMessage):
            commit.add_done_callback(lambda _done: raw.release())
        return await asyncio.shield(commit)

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer.close()


def _insert_all(session: Session, items: Sequence[IncomingReceipt], *, now: datetime) -> list[StoredReceipt]:
    results: list[StoredReceipt] = []
    for item in items:
        meta = {**item.meta, "received_at": now.isoformat()}
        if isinstance(item.raw, SpooledMessage):
            spooled = item.raw
            natural_id = spooled.natural_id()  # only SMTP spools: the e-mail channel's id, read from the file
            receipt_id, created = receipt_blobs.insert_receipt_in_chunks(
                session, channel=item.channel.name, source=item.source, natural_id=natural_id,
                size=spooled.size, chunks=spooled.chunks, whole=spooled.read_all, meta=meta, now=now,
            )  # fmt: skip
        else:
            natural_id = item.channel.natural_id(item.raw, item.meta)
            receipt_id, created = repo.insert_receipt(
                session, channel=item.channel.name, source=item.source, natural_id=natural_id,
                raw=item.raw, meta=meta, now=now,
            )  # fmt: skip
        results.append(StoredReceipt(id=receipt_id, natural_id=natural_id, duplicate=not created))
    return results
