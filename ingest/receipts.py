"""Storing what a receiver got, durably, before it is acknowledged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from channels.base import Channel
from storage import repo
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredReceipt:
    id: int
    natural_id: str
    duplicate: bool  # an earlier receipt with the same natural id exists; nothing new was stored


@dataclass
class ReceiptStore:
    sessions: SessionFactory
    clock: Callable[[], datetime]
    # Called after each new receipt is committed (wakes the pipeline).
    on_stored: Callable[[], None] = lambda: None

    def store_sync(self, channel: Channel, *, source: str, raw: bytes, meta: dict[str, Any]) -> StoredReceipt:
        now = self.clock()
        natural_id = channel.natural_id(raw, meta)
        meta = {**meta, "received_at": now.isoformat()}
        with transaction(self.sessions) as session:
            receipt_id, created = repo.insert_receipt(
                session, channel=channel.name, source=source, natural_id=natural_id, raw=raw, meta=meta, now=now
            )
        if created:
            self.on_stored()
        log.info("receipt %s %s from %s (%d bytes)", receipt_id, "stored" if created else "duplicate", source, len(raw))
        return StoredReceipt(id=receipt_id, natural_id=natural_id, duplicate=not created)

    def store_batch_sync(
        self,
        channel: Channel,
        *,
        source: str,
        items: Sequence[tuple[bytes, dict[str, Any]]],
        also: Callable[[Session], None] | None = None,
        wake: bool = True,
    ) -> list[StoredReceipt]:
        """Store several receipts in ONE transaction, together with ``also`` (e.g. a mailbox position).

        Either all of it is committed or none. ``wake=False`` leaves calling ``on_stored`` to the
        caller (the IMAP poller marks the messages on the server first).
        """
        now = self.clock()
        results: list[StoredReceipt] = []
        with transaction(self.sessions) as session:
            for raw, meta in items:
                natural_id = channel.natural_id(raw, meta)
                receipt_id, created = repo.insert_receipt(
                    session,
                    channel=channel.name,
                    source=source,
                    natural_id=natural_id,
                    raw=raw,
                    meta={**meta, "received_at": now.isoformat()},
                    now=now,
                )
                results.append(StoredReceipt(id=receipt_id, natural_id=natural_id, duplicate=not created))
            if also is not None:
                also(session)
        new = [r.id for r in results if not r.duplicate]
        if new and wake:
            self.on_stored()
        log.debug("receipts from %s: %d stored, %d duplicate", source, len(new), len(results) - len(new))
        return results

    async def store(self, channel: Channel, *, source: str, raw: bytes, meta: dict[str, Any]) -> StoredReceipt:
        return await asyncio.to_thread(self.store_sync, channel, source=source, raw=raw, meta=meta)
