"""The example office with its pipeline on the test's database, without the running service.

Most pipeline-level tests need the same things: the schema migrated, the employees synced, a
pipeline and a receipt store on a clock the test moves. The engine is disposed at the end.
Also here: a client's mail, a channel that fails on purpose, and a receipt read back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from channels.email import EmailChannel
from ingest.assembly import build_pipeline, sync_employees
from ingest.config import Settings
from ingest.intake.receipts import ReceiptStore
from ingest.pipeline.runner import Pipeline
from storage.db import SessionFactory, make_engine, migrate, session_factory
from storage.models import Receipt

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A clock the test moves (``clock.now += ...``)."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class PipelineOffice:
    settings: Settings
    engine: Any
    sessions: SessionFactory
    pipeline: Pipeline
    store: ReceiptStore
    clock: Clock


@contextmanager
def pipeline_office(settings: Settings) -> Iterator[PipelineOffice]:
    engine = make_engine(settings.database_url())
    try:
        migrate(engine)
        sessions = session_factory(engine)
        sync_employees(sessions, settings)
        clock = Clock()
        pipeline = build_pipeline(settings, sessions, clock)
        yield PipelineOffice(settings, engine, sessions, pipeline, ReceiptStore(sessions=sessions, clock=clock), clock)
    finally:
        engine.dispose()


# --- for pipeline tests ---------------------------------------------------------------------

MAIL = (
    b"From: Anna <anna@client.example>\r\nTo: klienti@example.lv\r\nSubject: Lifts\r\n"
    b"Message-ID: <lift-1@client.example>\r\n\r\nM\xc4\x81j\xc4\x81 nestr\xc4\x81d\xc4\x81 lifts.\r\n"
)


@dataclass
class FlakyEmail:
    """The real e-mail channel, failing the first ``failures`` times (a database or bug stand-in)."""

    failures: int
    inner: EmailChannel = field(default_factory=EmailChannel)
    name: str = "email"

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        return self.inner.natural_id(raw, meta)

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("simulated failure")
        return self.inner.normalise(raw, meta)


def receipt(engine: Any, receipt_id: int) -> Receipt:
    with Session(engine) as session:
        row = session.get(Receipt, receipt_id)
        assert row is not None
        return row
