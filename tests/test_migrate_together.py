"""Processes started together on a new database (``serve`` beside ``serve --roles worker``) all
start: one applies the migrations, the others wait for it and find the schema current."""

from __future__ import annotations

import threading

from sqlalchemy import inspect

from storage.db import make_engine, migrate


def test_four_processes_migrating_a_new_database_at_once_all_succeed(database_url: str) -> None:
    engines = [make_engine(database_url) for _ in range(4)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(engine: object) -> None:
        start.wait()
        try:
            migrate(engine)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,), daemon=True) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # Before the lock, PostgreSQL's racing CREATE TABLEs failed one process and left others waiting.
    assert not any(thread.is_alive() for thread in threads), "a migration still waits after 120 s"
    try:
        assert errors == []
        tables = set(inspect(engines[0]).get_table_names())
        assert {"alembic_version", "receipt", "inquiry", "outbox"} <= tables
    finally:
        for engine in engines:
            engine.dispose()
