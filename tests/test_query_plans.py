"""The main job's statements use indexes on the tables that grow (issue 17: every hot query
checked with EXPLAIN on both databases).

The statements are not listed by hand, so none is forgotten and a new one is checked the day it
is written: they are recorded while the real pipeline opens, joins and routes inquiries from
client mail and the outbox claims, sends and records what it queued. Each distinct statement is
then explained on the same database with the parameters it ran with. SQLite: no full ``SCAN`` of
a growing table. PostgreSQL: no ``Seq Scan`` on one, with sequential scans discouraged (the tables
are tiny here, and the planner would rightly scan them anyway; the question is whether an index
could serve the query at all).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import event, text

from ingest.config import RetrySettings
from ingest.outgoing.outbox import OutboxSender
from tests.pipeline_office import PipelineOffice, pipeline_office

# Tables with a row (or several) per message, inquiry or send; the others hold the office's
# configuration (employees, absences, topics) or a row per year and are read whole on purpose.
GROWING = ("receipt", "message", "inquiry", "event", "outbox", "contact", "deadline_alarm", "attachment")
# Read whole on purpose, with a reason each.
ALLOWED = {
    # The open-inquiry load per employee, once per batch: an aggregate over the open inquiries.
    re.compile(r"SELECT inquiry\.employee_id, count\(\*\)", re.S),
}


class Collect:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: EmailMessage, *, name: str) -> None:
        self.sent.append(name)

    def describe(self) -> str:
        return "collected in the test"


def client_mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Klients {n % 7} <klients{n % 7}@client.example>"
    msg["To"] = "klienti@example.lv"
    msg["Subject"] = ["Atkritumi netika izvesti", "Apkure nedarbojas", "Rēķins par siltumu"][n % 3]
    msg["Message-ID"] = f"<plan-{n}@client.example>"
    msg.set_content(f"Labdien! Ziņa {n}: lūdzu palīdzēt. Tālr. 2{n:07d}")
    return msg.as_bytes()


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings()) as office:
        yield office


def record(world: PipelineOffice) -> dict[str, dict[str, Any]]:
    """The distinct statements of the main job, each with the first parameters it ran with."""
    seen: dict[str, dict[str, Any]] = {}

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")) and statement not in seen:
            seen[statement] = {"parameters": parameters[0] if many and parameters else parameters}

    event.listen(world.engine, "before_cursor_execute", before)
    try:
        email = world.pipeline.channels["email"]
        for n in range(30):
            world.store.store_sync(email, source="smtp", raw=client_mail(n), meta={})
        while world.pipeline.process_due():
            pass
        sender = OutboxSender(sessions=world.sessions, transports={"email": Collect()},
                              retry=RetrySettings(batch_size=20), clock=world.clock)  # fmt: skip
        while sender.deliver_due():
            pass
    finally:
        event.remove(world.engine, "before_cursor_execute", before)
    return seen


def _pg_full_scans(node: dict[str, Any]) -> Iterator[str]:
    """Scans of a growing table that read it whole: a Seq Scan, or an index walked end to end
    without an Index Cond (what the planner does instead when seq scans are discouraged)."""
    if node.get("Relation Name") in GROWING and (
        node["Node Type"] == "Seq Scan"
        or (node["Node Type"] in ("Index Scan", "Index Only Scan") and "Index Cond" not in node)
    ):
        yield f"{node['Node Type']} on {node['Relation Name']}"
    for child in node.get("Plans", []):
        yield from _pg_full_scans(child)


def full_scans(world: PipelineOffice, statement: str, parameters: Any) -> list[str]:
    with world.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if world.engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = [str(row[-1]) for row in cursor.fetchall()]
            scans = [line for line in plan if re.match(rf"SCAN ({'|'.join(GROWING)})\b", line)]
        else:
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            scans = list(_pg_full_scans(cursor.fetchone()[0][0]["Plan"]))
        cursor.close()
        conn.rollback()
    return scans


def test_every_statement_of_the_main_job_finds_its_rows_by_an_index(world: PipelineOffice) -> None:
    statements = record(world)
    assert len(statements) > 10, list(statements)  # the recording saw the job (reads, claims, updates)
    with world.sessions() as session:
        assert session.execute(text("SELECT count(*) FROM inquiry")).scalar_one() > 5
    offenders = {
        statement: scans
        for statement, seen in statements.items()
        if not any(pattern.search(statement) for pattern in ALLOWED)
        and (scans := full_scans(world, statement, seen["parameters"]))
    }
    assert offenders == {}


def test_the_check_sees_a_full_scan_when_the_index_is_missing(world: PipelineOffice) -> None:
    statements = record(world)
    (by_email, seen), *_ = [(s, p) for s, p in statements.items() if re.search(r"WHERE contact\.email IN", s)]
    assert full_scans(world, by_email, seen["parameters"]) == []
    with world.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_contact_email"))
    world.engine.dispose()  # connections that prepared the statement before would keep its old plan
    assert full_scans(world, by_email, seen["parameters"]) != []
