"""Fixtures: real databases (SQLite and PostgreSQL), a real SMTP relay, a running service.

Every test that takes ``database_url`` runs twice, once per backend. The
PostgreSQL server is the one on 127.0.0.1:5432 (override with
INGEST_TEST_PG_ADMIN_URL); each test run gets a database of its own, dropped
at the end.

Fixtures reach the tests the pytest way: defined here, or in the plugin modules listed in
``pytest_plugins`` (the Dovecot ones in tests/conftest_imap.py). Test modules import plain
helpers from tests/support.py and the *_helpers.py modules, never from a conftest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from ingest.config import Settings, parse_config
from tests.support import Relay, deep_merge, empty_pg_database, example_document, running_service, throwaway_pg_database

pytest_plugins = ["tests.conftest_imap"]


# --- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with throwaway_pg_database("ingest_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.sqlite3'}"
    url: str = request.getfixturevalue("pg_database")
    empty_pg_database(url)
    return url


# --- configuration --------------------------------------------------------------------------


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    """The example office, on this test's database, ports chosen by the OS, fast retries."""

    def make(**sections: dict[str, Any]) -> Settings:
        doc = deep_merge(
            example_document(),
            {
                "service": {"data_dir": str(tmp_path / "var"), "log_level": "DEBUG"},
                "database": {"url": database_url, "pool_size": 5},
                "http": {"port": 0},
                "smtp_listener": {"port": 0},
                "pipeline": {"poll_seconds": 0.2, "backoff_base_seconds": 0.2, "backoff_max_seconds": 1},
                "outbox": {"poll_seconds": 0.2, "backoff_base_seconds": 0.2, "backoff_max_seconds": 0.5},
            },
        )
        return parse_config(deep_merge(doc, sections), base_dir=tmp_path, env={})

    return make


# --- a real SMTP relay ----------------------------------------------------------------------


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay()
    server.start()
    yield server
    server.stop()


# --- a running service ----------------------------------------------------------------------


@pytest.fixture
def service_factory() -> Callable[..., AbstractContextManager[Any]]:
    """``with service_factory(settings) as service:`` runs the real service in a thread."""
    return running_service
