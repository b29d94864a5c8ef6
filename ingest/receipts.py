"""Storing what a receiver got, durably, before it is acknowledged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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

    async def store(self, channel: Channel, *, source: str, raw: bytes, meta: dict[str, Any]) -> StoredReceipt:
        return await asyncio.to_thread(self.store_sync, channel, source=source, raw=raw, meta=meta)
