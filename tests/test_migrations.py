"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage.db import make_engine, migrate


def test_migrations_match_the_models(database_url: str) -> None:
    import importlib
    import pkgutil

    import storage

    # Every module of the storage package that defines tables.
    for module in pkgutil.iter_modules(storage.__path__):
        if module.name.endswith("models"):
            importlib.import_module(f"storage.{module.name}")
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)  # idempotent
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == [], "\n".join(map(str, diff))


def test_the_migrations_since_0011_keep_the_data_of_an_office(database_url: str) -> None:
    """An office upgrading with inquiries and messages in the database, not an empty one."""
    from alembic import command
    from sqlalchemy import text

    from storage.db import WRITE_OPTION, alembic_config

    engine = make_engine(database_url)
    try:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection, connection.begin():
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0011")
            at = {"t": "2026-03-10 10:00:00+00:00"}
            connection.execute(text("INSERT INTO contact (kind, name, created_at) VALUES ('person', 'Anna', :t)"), at)
            connection.execute(text(
                "INSERT INTO inquiry (reference, token, contact_id, channel, kind, complexity, status, received_at,"
                " created_at, updated_at) SELECT 'GK-2026-000001', 't', id, 'email', 'question', 'simple', 'open',"
                " :t, :t, :t FROM contact"), at)  # fmt: skip
            connection.execute(text(
                "INSERT INTO message (inquiry_id, direction, channel, external_id, text, refers_to, received_at)"
                " SELECT id, 'in', 'email', 'mid:x', 'Labdien', '[]', :t FROM inquiry"), at)  # fmt: skip
        migrate(engine)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT reference, merged_into_id FROM inquiry")).one()
            messages = conn.execute(text("SELECT count(*) FROM message")).scalar_one()
        assert tuple(row) == ("GK-2026-000001", None) and messages == 1
    finally:
        engine.dispose()
