"""Realistic client inquiries through the real pipeline: who gets each one, and why.

``tests/data/routing_cases.json`` holds inquiries written like clients write them (Latvian with and
without diacritics, Russian, English, a few mixed), each with the employee a competent human
dispatcher would choose, the rule that must choose them, the topic, the kind and, for most, the due
date worked out by hand from the example office's hours and the Latvian holidays.

Each case is sent exactly as a receiver would store it: an e-mail receipt stored with
``ReceiptStore.store_sync``, then ``pipeline.process_due()`` (as in test_pipeline.py), on the example
configuration, on SQLite and on PostgreSQL.

Isolation: every case runs against an empty database, so load and client continuity never leak from
one case into another. On SQLite that is a new file per test (tmp_path); on PostgreSQL the
``database_url`` fixture of conftest.py truncates every table of the one session database before each
test (``tests.support.empty_pg_database``), which is as good as a new database and costs
milliseconds, and the migrations then find the schema current. Cases that share a ``sequence`` are
the exception on purpose: a case of a sequence first replays the cases before it in that sequence
(same senders, same times) into its empty database, so client continuity and load balancing are
checked with exactly the history the case names, and each case still passes or fails on its own.

A case the router gets wrong today carries ``known_issue``: its expectation stays the human-correct
one, and the test is a strict xfail with that reason, so a fix shows up as an XPASS to remove the
mark. ``test_zz_summary`` prints the set (per language, kind, rule) and the known issues, with what
the router did instead when the cases ran in the same session.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from ingest.intake.receipts import ReceiptStore
from router.understand import fold, tokens
from storage.models import Employee, Event, Inquiry, Message, Receipt
from tests.pipeline_office import Clock, pipeline_office
from tests.support import DATA, example_document

CASES_FILE = DATA / "routing_cases.json"
DOC: dict[str, Any] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DOC["cases"]
BY_ID = {case["id"]: case for case in CASES}
RIGA = ZoneInfo("Europe/Riga")
OFFICE = example_document()
TOPIC_KEYWORDS = {t["key"]: t["keywords"] for t in OFFICE["topics"]}
PUBLIC_ADDRESS = OFFICE["smtp_listener"]["recipients"][0]

# What the router did, per (backend, case id), for the summary.
OBSERVED: dict[tuple[str, str], dict[str, Any]] = {}


# --- the office -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Office:
    backend: str
    engine: Any
    pipeline: Any
    store: ReceiptStore
    clock: Clock


@pytest.fixture
def office(make_settings: Any) -> Iterator[Office]:
    """The example office on an empty database (a new SQLite file, or the PostgreSQL one truncated)."""
    # Each case opens an inquiry of its own; a sequence's same-day messages from one client would
    # join the open one (ingest/pipeline/joining.py), so the threading window is off here.
    with pipeline_office(make_settings(threading={"cross_channel_hours": 0})) as o:
        backend = "sqlite" if o.settings.database_url().startswith("sqlite") else "postgresql"
        yield Office(backend, o.engine, o.pipeline, o.store, o.clock)


def email_of(case: dict[str, Any]) -> bytes:
    message = EmailMessage()
    message["From"] = case["from"]
    message["To"] = PUBLIC_ADDRESS
    if case["subject"]:
        message["Subject"] = case["subject"]
    message["Date"] = format_datetime(datetime.fromisoformat(case["received_at"]))
    message["Message-ID"] = f"<{case['id']}@client.example>"
    message.set_content(case["text"])
    return message.as_bytes(policy=policy.SMTP)


def send(office: Office, case: dict[str, Any]) -> dict[str, Any]:
    """Store the case as an e-mail receipt at its received time, process it, return what became of it."""
    office.clock.now = datetime.fromisoformat(case["received_at"])
    stored = office.store.store_sync(office.pipeline.channels["email"], source="smtp", raw=email_of(case), meta={})
    assert not stored.duplicate
    assert office.pipeline.process_due() == 1
    with Session(office.engine) as session:
        receipt = session.get(Receipt, stored.id)
        assert receipt is not None and receipt.status == "processed", receipt and receipt.last_error
        message = session.get(Message, receipt.message_id)
        assert message is not None
        inquiry = session.get(Inquiry, message.inquiry_id)
        assert inquiry is not None and inquiry.due_at is not None
        in_inquiry = session.exec(select(Message).where(Message.inquiry_id == inquiry.id)).all()
        assert len(in_inquiry) == 1, "the message was threaded into an earlier inquiry instead of opening one"
        employee = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
        routed = session.exec(select(Event).where(Event.inquiry_id == inquiry.id, Event.type == "routed")).one()
        return {
            "employee": employee.key if employee else None,
            "topic": inquiry.topic,
            "kind": inquiry.kind,
            "language": inquiry.language,
            "complexity": inquiry.complexity,
            "due_at": inquiry.due_at.astimezone(RIGA).isoformat(),
            "routed": dict(routed.data),
        }


# --- the cases ------------------------------------------------------------------------------


def earlier_in_sequence(case: dict[str, Any]) -> list[dict[str, Any]]:
    name = case.get("sequence")
    if not name:
        return []
    group = [c for c in CASES if c.get("sequence") == name]
    return group[: group.index(case)]


def differences(case: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What differs from the expectation, and what is missing from the explanation of the choice."""
    exp = case["expect"]
    routed = got["routed"]
    facts = routed.get("facts", {})
    out: list[str] = []

    def same(what: str, want: Any, have: Any) -> None:
        if want != have:
            out.append(f"{what}: expected {want!r}, got {have!r}")

    same("employee", exp["employee"], got["employee"])
    same("routed event employee", got["employee"], routed.get("employee"))
    same("rule", exp["rule"], routed.get("rule"))
    same("topic", exp["topic"], got["topic"])
    same("kind", exp["kind"], got["kind"])
    languages = case["language"].split("+")
    if got["language"] not in languages:
        out.append(f"language: expected one of {languages}, got {got['language']!r}")
    if "due_at" in exp:
        same("due_at", exp["due_at"], got["due_at"])
    same("routed event due_at", got["due_at"], datetime.fromisoformat(routed["due_at"]).astimezone(RIGA).isoformat())

    rule = routed.get("rule")
    if rule == exp["rule"] == "topic-keyword":
        same("facts.topic", exp["topic"], facts.get("topic"))
        keyword, word = facts.get("keyword"), facts.get("matched_word")
        if keyword not in TOPIC_KEYWORDS.get(str(exp["topic"]), ()):
            out.append(f"facts.keyword {keyword!r} is not a keyword of topic {exp['topic']!r}")
        body = " ".join(fold(t) for t in tokens(f"{case['subject']}\n{case['text']}"))
        if not word or fold(word) not in body:
            out.append(f"facts.matched_word {word!r} is not in the message")
        if "keyword" in exp:
            same("facts.keyword", exp["keyword"], keyword)
        if "concerns" in exp:
            same("facts.concerns", exp["concerns"], facts.get("concerns"))
        for key in ("load", "speaks_client_language"):
            if key in exp:
                same(f"facts.{key}", exp[key], facts.get(key))
    if rule == exp["rule"] == "fallback":
        if not facts.get("reason"):
            out.append("fallback without a reason in the facts")
        if "reason" in exp:
            same("facts.reason", exp["reason"], facts.get("reason"))
    if rule == exp["rule"] == "client-continuity" and "client_topic" in exp:
        same("facts.client_topic", exp["client_topic"], facts.get("client_topic"))
    if rule == exp["rule"] == "complaint-to-board" and not facts.get("kind_keyword"):
        out.append("complaint without the keyword that made it one")
    if "employees_named" in exp:
        same("facts.employees_named", exp["employees_named"], facts.get("employees_named", []))
    if "absent" in exp:
        same("facts.absent", exp["absent"], facts.get("absent"))
    return out


def case_params() -> Iterator[Any]:
    for case in CASES:
        marks = []
        if case.get("known_issue"):
            marks.append(pytest.mark.xfail(reason=case["known_issue"], strict=True))
        yield pytest.param(case["id"], id=case["id"], marks=marks)


# The same table on PostgreSQL is the slow half: it runs in the full suite, not in the fast loop.
@pytest.mark.parametrize("case_id", list(case_params()))
@pytest.mark.parametrize("database_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)], indirect=True)
def test_routing_case(office: Office, case_id: str) -> None:
    case = BY_ID[case_id]
    for earlier in earlier_in_sequence(case):
        send(office, earlier)
    got = send(office, case)
    problems = differences(case, got)
    OBSERVED[(office.backend, case_id)] = {**got, "problems": problems}
    assert not problems, f"{case_id}:\n  " + "\n  ".join(problems) + f"\n  routed: {got['routed']}"


# --- the set itself -------------------------------------------------------------------------


def test_the_case_set_covers_what_it_claims() -> None:
    assert "_source" in DOC
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 66
    employees = {e["key"] for e in OFFICE["employees"]}
    languages = Counter(c["language"] for c in CASES)
    assert languages["lv"] >= 20 and languages["ru"] >= 15 and languages["en"] >= 12
    assert sum(n for lang, n in languages.items() if "+" in lang) >= 3
    topics = {c["expect"]["topic"] for c in CASES}
    assert topics >= {*TOPIC_KEYWORDS, None}
    kinds = Counter(c["expect"]["kind"] for c in CASES)
    assert kinds["complaint"] >= 8 and kinds["suggestion"] >= 4 and kinds["question"] and kinds["request"]
    assert sum(1 for c in CASES if "due_at" in c["expect"]) >= 20
    for case in CASES:
        exp = case["expect"]
        assert exp["employee"] in employees, case["id"]
        assert datetime.fromisoformat(case["received_at"]).tzinfo is not None, case["id"]
        if "due_at" in exp:
            due = datetime.fromisoformat(exp["due_at"])
            assert due.isoformat() == due.astimezone(RIGA).isoformat(), f"{case['id']}: due_at not in Riga time"
        if exp["kind"] == "complaint" and "valde" in exp.get("employees_named", []):
            assert exp["employee"] != "valde", case["id"]  # never to the person the complaint is about
    # Olga Petrova's leave: waste cases received during it, and one group where both specialists matter.
    leave = [c for c in CASES if c["expect"].get("absent") == ["atkritumi-2"]]
    assert len(leave) >= 3 and all(c["expect"]["employee"] != "atkritumi-2" for c in leave)
    rules = Counter(c["expect"]["rule"] for c in CASES)
    assert rules["client-continuity"] >= 2 and rules["fallback"] >= 4


# --- the summary ----------------------------------------------------------------------------


def summary_lines() -> list[str]:
    def counts(title: str, counter: Counter[Any]) -> str:
        return f"{title}: " + ", ".join(f"{k}={n}" for k, n in sorted(counter.items(), key=lambda kv: str(kv[0])))

    lines = [f"routing cases: {len(CASES)} (tests/data/routing_cases.json)"]
    lines.append(counts("  per language", Counter(c["language"] for c in CASES)))
    lines.append(
        counts(
            "  Latvian typed",
            Counter(
                "with diacritics"
                if any(ch in "āčēģīķļņšūžĀČĒĢĪĶĻŅŠŪŽ" for ch in c["subject"] + c["text"])
                else "without"
                for c in CASES
                if c["language"] == "lv"
            ),
        )
    )
    lines.append(counts("  per kind", Counter(c["expect"]["kind"] for c in CASES)))
    lines.append(counts("  per rule", Counter(c["expect"]["rule"] for c in CASES)))
    lines.append(counts("  per topic", Counter(c["expect"]["topic"] or "(none)" for c in CASES)))
    lines.append(counts("  per employee", Counter(c["expect"]["employee"] for c in CASES)))
    lines.append(f"  with a hand-worked due date: {sum(1 for c in CASES if 'due_at' in c['expect'])}")
    lines.append(counts("  in sequences", Counter(c["sequence"] for c in CASES if c.get("sequence"))))
    known = [c for c in CASES if c.get("known_issue")]
    lines.append(f"  known issues (strict xfail): {len(known)}")
    for case in known:
        lines.append(f"    {case['id']}: {case['known_issue']}")
        for backend in ("sqlite", "postgresql"):
            seen = OBSERVED.get((backend, case["id"]))
            if seen is not None:
                lines.append(f"      router on {backend}: " + ("; ".join(seen["problems"]) or "now correct (XPASS)"))
                break
    if OBSERVED:
        ran = Counter(backend for backend, _ in OBSERVED)
        wrong = Counter(backend for (backend, cid), seen in OBSERVED.items() if seen["problems"])
        lines.append(
            "  observed this session: "
            + ", ".join(f"{b}: {ran[b] - wrong[b]}/{ran[b]} as expected" for b in sorted(ran))
        )
        unexpected = sorted(
            cid for (_, cid), seen in OBSERVED.items() if seen["problems"] and not BY_ID[cid].get("known_issue")
        )
        if unexpected:
            lines.append("  wrong without a known issue: " + ", ".join(dict.fromkeys(unexpected)))
    return lines


def test_zz_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the summary (runs last in this module; -rx also lists the xfail reasons)."""
    lines = summary_lines()
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert lines
