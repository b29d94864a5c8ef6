"""What every ``ingest`` command shares: the ``--config`` option, loading the configuration,
opening the configured database, and the language of the person at the terminal."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from babel.support import Translations

from ingest.config import ConfigError, Settings, load_config
from ingest.i18n import LANGUAGES, compile_catalog
from storage.db import SessionFactory, make_engine, migrate, session_factory

DEFAULT_CONFIG = "config.toml"
# Where gettext looks for the language of messages, in its order; the first one set wins.
LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
# The language of C, POSIX and anything without a catalog: what scripts have always read.
CLI_FALLBACK_LANGUAGE = "en"


def cli_language(env: Mapping[str, str]) -> str:
    """The terminal's language, chosen the gettext way: the first of ``LANGUAGE``, ``LC_ALL``,
    ``LC_MESSAGES``, ``LANG`` that is set and not empty, by its first two letters
    (``lv_LV.UTF-8`` is ``lv``); ``C``, ``POSIX``, nothing or a language without a catalog is English."""
    value = next((env[name] for name in LANGUAGE_VARIABLES if env.get(name)), "")
    code = value[:2].lower()
    return code if code in LANGUAGES else CLI_FALLBACK_LANGUAGE


def cli_translations(env: Mapping[str, str]) -> Translations:
    """The catalog of the person at the terminal whose environment ``env`` is. English is the
    source language: its catalog is empty, so the texts come out as written in the code."""
    return compile_catalog(cli_language(env))


def terminal_translations() -> Translations:
    """``cli_translations`` of this process's environment: for the messages to people, never for
    what scripts read (JSON, CSV, tab-separated lists, secrets, error texts passed through)."""
    return cli_translations(os.environ)


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
        _ = terminal_translations().gettext
        print("ingest: " + _("configuration error: %(error)s") % {"error": exc}, file=sys.stderr)
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
