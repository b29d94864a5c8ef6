"""SQL statements and commits per message of the pipeline and the outbox, counted with
SQLAlchemy's event hooks in-process (bench/end_to_end.py prints them beside its rates)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import event

from bench._common import bench_settings
from channels.email import EmailChannel
from ingest.assembly import build_pipeline, sync_employees
from ingest.intake.receipts import IncomingReceipt, ReceiptStore
from ingest.outgoing.mail_transport import FolderTransport
from ingest.outgoing.outbox import OutboxSender
from storage.db import make_engine, migrate, session_factory
from storage.types import utcnow


def statements_per_message(database_url: str, messages: list[bytes]) -> tuple[float, float]:
    """(statements, commits) per message from stored receipts to every notification written."""
    with tempfile.TemporaryDirectory(prefix="gk-bench-counts-") as tmp:
        settings = bench_settings(database_url, Path(tmp))
        engine = make_engine(database_url, pool_size=5)
        migrate(engine)
        sessions = session_factory(engine)
        sync_employees(sessions, settings)
        pipeline = build_pipeline(settings, sessions, utcnow)
        outbox = OutboxSender(sessions=sessions, transports={"email": FolderTransport(Path(tmp) / "out")},
                              retry=settings.outbox, clock=utcnow)  # fmt: skip
        store = ReceiptStore(sessions=sessions, clock=utcnow)
        channel = EmailChannel()
        for i in range(0, len(messages), 200):
            store.store_many_sync([IncomingReceipt(channel, "bench", raw, {}) for raw in messages[i : i + 200]])
        counts = {"statements": 0, "commits": 0}

        def statement(*_: object) -> None:
            counts["statements"] += 1

        def commit(*_: object) -> None:
            counts["commits"] += 1

        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)
        while pipeline.process_due() or outbox.deliver_due():
            pass
        engine.dispose()
        return counts["statements"] / len(messages), counts["commits"] / len(messages)
