"""A small office for the dashboard tests: inquiries written straight into the database at
known times, a clock the test moves, passwords, and logging in over real HTTP.

The figures of :data:`SEEDS` at :data:`NOW` are worked out by hand in tests/test_dashboard.py.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import select

from ingest.dashboard.passwords import set_password
from storage.db import SessionFactory, transaction
from storage.models import Contact, Employee, Event, Inquiry, Message

RIGA = ZoneInfo("Europe/Riga")
PASSWORD = "correct horse battery"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'


def riga(text: str) -> datetime:
    """'2026-03-11 10:00' in the office's time zone, as aware UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=RIGA).astimezone(UTC)


# Wednesday of ISO week 11; the period of the figures is 2026-03-02 to 2026-03-11.
NOW = riga("2026-03-11 10:00")
PERIOD = ("2026-03-02", "2026-03-11")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass(frozen=True)
class Seed:
    name: str
    employee: str
    channel: str
    topic: str | None
    kind: str
    received: str
    due: str | None
    status: str = "open"
    answered: str | None = None
    named: tuple[str, ...] = ()  # employees the routing found named in the text (complaints)
    subject: str = "Jautājums"
    client: str = "Jānis Ozoliņš"
    text: str = "Labdien!"


SEEDS = (
    Seed("A", "atkritumi-1", "email", "atkritumi", "question", "2026-03-02 09:00", "2026-03-03 17:00",
         "answered", "2026-03-03 10:00"),
    Seed("B", "atkritumi-1", "whatsapp", "atkritumi", "request", "2026-03-03 09:00", "2026-03-04 17:00",
         "answered", "2026-03-05 09:00"),
    Seed("C", "atkritumi-1", "email", "atkritumi", "question", "2026-03-10 09:00", "2026-03-11 09:00",
         subject=f"Konteiners {XSS_SCRIPT}", client=f"Pēteris {XSS_ATTR}", text=f"Teksts {XSS_SCRIPT} {XSS_ATTR}"),
    Seed("D", "siltums", "phone", "siltums", "request", "2026-03-10 12:00", "2026-03-11 17:00"),
    Seed("E", "valde", "email", "atkritumi", "complaint", "2026-03-04 10:00", "2026-03-05 17:00",
         "answered", "2026-03-05 12:00", named=("atkritumi-1",), subject="Sūdzība par darbinieku"),
    Seed("F", "siltums", "email", "siltums", "suggestion", "2026-03-09 10:00", "2026-03-10 17:00", "waiting_client",
         subject="Ierosinājums"),
    Seed("G", "atkritumi-1", "email", "atkritumi", "question", "2026-02-20 09:00", "2026-02-23 17:00"),
)  # fmt: skip


def seed(sessions: SessionFactory, seeds: tuple[Seed, ...] = SEEDS) -> dict[str, str]:
    """Writes the inquiries (with a message and a routed event each); returns name -> reference."""
    refs: dict[str, str] = {}
    with transaction(sessions) as session:
        employees = {e.key: e for e in session.exec(select(Employee)).all()}
        for n, s in enumerate(seeds, start=1):
            received = riga(s.received)
            contact = Contact(name=s.client, email=f"client{n}@client.example")
            session.add(contact)
            session.flush()
            assert contact.id is not None
            reference = f"GK-2026-{n:06d}"
            inquiry = Inquiry(
                reference=reference, token=secrets.token_hex(16), contact_id=contact.id, channel=s.channel, kind=s.kind,
                topic=s.topic, subject=s.subject, status=s.status, employee_id=employees[s.employee].id,
                received_at=received, due_at=riga(s.due) if s.due else None,
                answered_at=riga(s.answered) if s.answered else None,
                first_response_at=riga(s.answered) if s.answered else None,
                clock_paused_at=received if s.status == "waiting_client" else None,
                created_at=received, updated_at=received,
            )  # fmt: skip
            session.add(inquiry)
            session.flush()
            assert inquiry.id is not None
            session.add(
                Message(inquiry_id=inquiry.id, direction="in", channel=s.channel, external_id=f"seed-{reference}",
                        sender=contact.email, sender_name=s.client, subject=s.subject, text=s.text,
                        received_at=received)
            )  # fmt: skip
            session.add(
                Event(inquiry_id=inquiry.id, at=received, type="routed",
                      data={"rule": "topic", "employee": s.employee, "facts": {"employees_named": list(s.named)}})
            )  # fmt: skip
            refs[s.name] = reference
    return refs


def give_passwords(sessions: SessionFactory, *keys: str) -> None:
    with transaction(sessions) as session:
        for key in keys:
            set_password(session, employee_key=key, password=PASSWORD)


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(base: str, key: str, password: str = PASSWORD) -> tuple[httpx.Client, httpx.Response]:
    """A client that logged in (or tried): the login page's CSRF field and cookie, then the POST."""
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/dashboard/login")
    assert form.status_code == 200, form.text
    # With [http] secure_cookies the browser would send the login form's cookie over https only;
    # these tests speak plain http, so it is sent by hand.
    cookie = form.cookies.get("gk_login_csrf") or ""
    response = client.post(
        "/dashboard/login",
        data={"employee": key, "password": password, "csrf": csrf_of(form.text), "next": "/dashboard"},
        headers={"Cookie": f"gk_login_csrf={cookie}"},
    )
    return client, response


def figures_on_page(page: str) -> dict[str, str]:
    """``section:key:figure`` -> the value the dashboard shows (share as 0.750 or empty)."""
    out: dict[str, str] = {}
    cell = r'<td[^>]*data-figure="([^"]+)"(?: data-value="([^"]*)")?[^>]*>(?:<a href="[^"]*">)?([^<]*)(?:</a>)?</td>'
    for match in re.finditer(cell, page):
        name, value, text = match.groups()
        out[name] = value if value is not None else text.strip()
    return out


def report_table(text: str) -> dict[tuple[str, str], dict[str, Any]]:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    return {(r["section"], r["key"]): r for r in rows}
