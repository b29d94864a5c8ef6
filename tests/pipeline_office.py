"""The example office with its pipeline on the test's database, without the running service.

Most pipeline-level tests need the same things: the schema migrated, the employees synced, a
pipeline and a receipt store on a clock the test moves. The engine is disposed at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingest.config import Settings
from ingest.intake.receipts import ReceiptStore
from ingest.pipeline.runner import Pipeline
from ingest.service import build_pipeline, sync_employees
from storage.db import SessionFactory, make_engine, migrate, session_factory

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A clock the test moves (``clock.now += ...``)."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
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
