"""Migration 0015 types the actors of the events an office already has (storage/actors.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text

from storage.db import WRITE_OPTION, alembic_config, make_engine, migrate

T = "2026-03-10 10:00:00+00:00"
AT = {"T2": "2026-03-10 11:00:00+00:00", "T3": "2026-03-10 12:00:00+00:00"}

# (actor, type, data, the kind the migration must give it, "@T2"/"@T3": at another moment than T)
# Ilze is the inquiry's responsible employee; Pēteris was sent its notification; Dace was sent
# only a "not sent on" notice about it (which binds nobody).
EVENTS: list[tuple[str, str, str, str]] = [
    ("system", "received", "{}", "system"),
    ("system", "reopened", "{}", "system"),
    ("ilze", "answered", '{"via": "api"}', "employee"),
    ("ilze", "note_added", '{"via": "dashboard"}', "employee"),
    # An e-mail reply kept as a note because nothing proved it was Ilze's.
    ("ilze", "note_added", '{"relayed": false, "proof": null}', "sender"),
    ("ilze", "note_added", '{"via": "email", "proof": "dkim"}', "employee"),
    ("ilze", "staff_reply_refused", '{"why": "expired"}', "sender"),
    ("unknown-sender", "note_added", '{"relayed": false}', "sender"),
    ("ilze", "closed", '{"reason": "answered"}', "employee"),
    # ingest reassign --actor ilze: no audit row (T2); the dashboard's reassign has one (T).
    ("ilze", "reassigned", '{"from": "janis", "to": "ilze"}', "cli@T2"),
    ("ilze", "reassigned", '{"from": "ilze", "to": "janis"}', "employee"),
    ("root", "reassigned", '{"from": "janis", "to": "ilze"}', "cli"),
    # A name that is no employee's key, on a type staff make: it came from the command line.
    ("martins", "closed", "{}", "cli"),
    # An employee's key on a type only the service writes.
    ("ilze", "notified", "{}", "cli"),
    # Before proofs existed From alone was enough: e-mail replies kept as notes, #piezīme, answers
    # sent on and #slēgt (its closed event at the same moment as its note) are only the sender's.
    ("ilze", "note_added", '{"message_id": 3, "relayed": false, "why": "..."}', "sender"),
    ("ilze", "note_added", '{"message_id": 4, "via": "email", "command": "note"}', "sender"),
    ("ilze", "answered", '{"message_id": 5, "via": "email", "outbox_id": 1}', "sender"),
    ("ilze", "note_added", '{"message_id": 6, "via": "email", "command": "close"}', "sender@T3"),
    ("ilze", "closed", '{"reason": "no_answer_needed", "was": "open"}', "sender@T3"),
    # Proven, by someone the notification went to: theirs; by someone it did not (a forwarded reply
    # address, or only a "not sent on" notice): the sender's, as the pipeline types it now.
    ("peteris", "note_added", '{"via": "email", "command": "note", "proof": "dkim"}', "employee"),
    ("peteris", "note_added", '{"relayed": false, "why": "...", "proof": "authentication-results"}', "employee"),
    ("dace", "note_added", '{"via": "email", "command": "note", "proof": "dkim"}', "sender"),
    ("dace", "note_added", '{"relayed": false, "why": "...", "proof": "dkim"}', "sender"),
]

STAFF = [("ilze", "Ilze", "Bērziņa"), ("peteris", "Pēteris", "Kalns"), ("dace", "Dace", "Krūmiņa")]
# (kind, recipient) of the inquiry's outbox rows
OUTBOX = [("staff_new_inquiry", "Peteris@example.lv"), ("staff_reply_not_relayed", "dace@example.lv"),
          ("client_ack", "dace@example.lv")]  # fmt: skip


def _seed(connection: Any) -> None:
    at = {"t": T}
    for key, name, surname in STAFF:
        connection.execute(text(
            "INSERT INTO employee (key, name, surname, position, email, languages, active, role, language) VALUES"
            " (:key, :name, :surname, 'speciāliste', :email, '[]', true, 'employee', 'lv')"),
            {"key": key, "name": name, "surname": surname, "email": f"{key}@example.lv"})  # fmt: skip
    connection.execute(text("INSERT INTO contact (kind, name, created_at) VALUES ('person', 'Anna', :t)"), at)
    connection.execute(text(
        "INSERT INTO inquiry (reference, token, contact_id, channel, kind, complexity, status, received_at,"
        " created_at, updated_at, employee_id) SELECT 'GK-2026-000001', 't', c.id, 'email', 'question', 'simple',"
        " 'open', :t, :t, :t, e.id FROM contact c, employee e WHERE e.key = 'ilze'"), at)  # fmt: skip
    for kind, recipient in OUTBOX:
        connection.execute(text(
            "INSERT INTO outbox (kind, channel, recipient, inquiry_id, payload, status, attempts, created_at)"
            " SELECT :kind, 'email', :recipient, id, '{}', 'sent', 1, :t FROM inquiry"),
            {"kind": kind, "recipient": recipient, "t": T})  # fmt: skip
    for actor, type_, data, kind in EVENTS:
        when = AT.get(kind.partition("@")[2], T)
        connection.execute(
            text("INSERT INTO event (inquiry_id, at, type, actor, data) SELECT id, :at, :type, :actor, :data"
                 " FROM inquiry"),
            {"at": when, "type": type_, "actor": actor, "data": data},
        )  # fmt: skip
    connection.execute(text(
        "INSERT INTO audit_log (at, actor, action, inquiry_id, detail) SELECT :t, 'ilze', 'inquiry.reassign', id,"
        " '{}' FROM inquiry"), at)  # fmt: skip


def _drop_everything(engine: Any) -> None:
    """The test's PostgreSQL database is emptied by truncating, so it is already at the newest
    revision, where upgrading to 0014 does nothing: the tables go, alembic's too."""
    tables = inspect(engine).get_table_names()
    if tables:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


def test_0015_types_the_actors_of_existing_events(database_url: str) -> None:
    from alembic import command

    engine = make_engine(database_url)
    try:
        _drop_everything(engine)
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection, connection.begin():
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0014")
            _seed(connection)
        migrate(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT actor, type, actor_kind FROM event ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [(a, t, k) for a, t, k in rows] == [(a, t, k.split("@")[0]) for a, t, _d, k in EVENTS]
