"""What every ``ingest`` command shares: the ``--config`` option, loading the configuration,
and opening the configured database."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.config import ConfigError, Settings, load_config
from storage.db import SessionFactory, make_engine, migrate, session_factory

DEFAULT_CONFIG = "config.toml"


def config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=os.environ.get("INGEST_CONFIG", DEFAULT_CONFIG),
        help="the TOML configuration file (default: $INGEST_CONFIG or ./config.toml)",
    )


def load_settings(path: str) -> Settings:
    """The configuration; a problem is reported with its key and ends the command (exit code 2)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"ingest: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


@contextmanager
def opened(settings: Settings) -> Iterator[SessionFactory]:
    """Sessions on the configured database, migrated (commands may run before the first serve)."""
    engine = make_engine(settings.database_url())
    try:
        migrate(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()
