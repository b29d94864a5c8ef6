"""Processes started together on a new database (``serve`` beside ``serve --roles worker``) all
start: one applies the migrations and writes the configured staff, the others wait for it and
find them done."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import inspect
from sqlmodel import select

from ingest.assembly import sync_employees
from storage.db import make_engine, migrate, session_factory
from storage.models import Employee


def test_four_processes_starting_on_a_new_database_at_once_all_start(make_settings: Any) -> None:
    together(
        make_settings(), lambda engine, settings: (migrate(engine), sync_employees(session_factory(engine), settings))
    )


def test_four_processes_writing_the_staff_of_a_new_database_at_once_all_start(make_settings: Any) -> None:
    settings = make_settings()
    first = make_engine(settings.database_url())
    migrate(first)
    first.dispose()
    together(settings, lambda engine, settings: sync_employees(session_factory(engine), settings))


def together(settings: Any, work: Callable[[Any, Any], object]) -> None:
    """``work(engine, settings)`` in four threads at once, each with an engine of its own."""
    engines = [make_engine(settings.database_url()) for _ in range(4)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(engine: Any) -> None:
        start.wait()
        try:
            work(engine, settings)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,), daemon=True) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # Before the locks, PostgreSQL's racing CREATE TABLEs failed one process and left others
    # waiting, and racing INSERTs of the staff failed all but one.
    assert not any(thread.is_alive() for thread in threads), "a start still waits after 120 s"
    try:
        assert errors == []
        assert {"alembic_version", "receipt", "inquiry", "outbox"} <= set(inspect(engines[0]).get_table_names())
        with session_factory(engines[0])() as session:
            keys = sorted(e.key for e in session.exec(select(Employee)).all())
        assert keys == sorted(e.key for e in settings.employees)
    finally:
        for engine in engines:
            engine.dispose()
