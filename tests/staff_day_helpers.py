"""The office of tests/test_staff_day_browser.py: the real service with a local Twilio and mail relay,
clients writing in through the real inputs (SMTP, the signed WhatsApp webhook, a Twilio Voice
callback), and Chromium pages per role, each page shot at 1280 and 390 px wide.

Chromium is the Debian package at /usr/bin/chromium with the flags of tests/test_dashboard_browser.py.
"""

from __future__ import annotations

import smtplib
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, func, select

from storage.models import Attachment, Employee, Inquiry, Message, Outbox, Receipt
from tests.dashboard_helpers import PASSWORD, riga
from tests.support import example_document, wait_until
from tests.twilio_helpers import ACCOUNT, INBOUND, inbound_fields, signed_post, twilio_section

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# What works as root on a closed network (as tests/test_dashboard_browser.py).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
WIDE, NARROW, HEIGHT = 1280, 390, 900
VOICE = "/webhooks/twilio/voice-status"
MEDIA = f"/2010-04-01/Accounts/{ACCOUNT}/Messages/MM{'7' * 32}/Media/ME{'8' * 32}"

# Wednesday 11 March 2026, 10:00 in Riga: the day starts; on Friday 09:00 Thursday's deadlines are missed.
MORNING = riga("2026-03-11 10:00")
FRIDAY = riga("2026-03-13 09:00")

EMPLOYEE, SUPERVISOR, BOARD, DEPUTY = "atkritumi-1", "koordinatore", "valde", "atkritumi-2"
EMPLOYEE_NAME, EMPLOYEE_POSITION = "Jānis Kalniņš", "Atkritumu apsaimniekošanas speciālists"
WHATSAPP = "+37129111222"  # the client who writes on WhatsApp and also called


def png(width: int = 96, height: int = 64) -> bytes:
    """A real (orange) PNG, so the thumbnail is drawn, not only requested."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PHOTO_WIDTH = 96
PHOTO = png(PHOTO_WIDTH)


def day_settings(make_settings: Any, relay_port: int, api_url: str) -> Any:
    """The example office with Twilio (local), the relay, quick media fetches, and only
    Kalniņš on waste (so the whole morning is his; Petrova stays to take one over)."""
    topics = [dict(t) for t in example_document()["topics"]]
    for topic in topics:
        if topic["key"] == "atkritumi":
            topic["employees"] = [EMPLOYEE]
    return make_settings(
        twilio=twilio_section(api_base_url=api_url),
        media_fetch={"poll_seconds": 0.2, "backoff_base_seconds": 0.2, "backoff_max_seconds": 1},
        outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay_port, "security": "none"},
        topics=topics,
    )


@dataclass
class Day:
    """One day of the office: the running service and what the test saw."""

    service: Any
    relay: Any
    api: Any
    clock: Any
    db: str
    refs: dict[str, str] = field(default_factory=dict)
    dialogs: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # what went wrong but let the day go on
    shots: list[Path] = field(default_factory=list)
    overflows: list[str] = field(default_factory=list)  # pages that scroll sideways at 390 px

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.service.http_port}"

    # --- the database, read back ---

    def inquiry(self, reference: str) -> Inquiry:
        with self.service.sessions() as session:
            found: Inquiry = session.exec(select(Inquiry).where(Inquiry.reference == reference)).one()
            session.expunge(found)
            return found

    def outbox(self, **where: Any) -> list[Outbox]:
        with self.service.sessions() as session:
            query = select(Outbox).order_by(col(Outbox.id))
            for name, value in where.items():
                query = query.where(getattr(Outbox, name) == value)
            rows = list(session.exec(query).all())
            for row in rows:
                session.expunge(row)
            return rows

    def count(self, model: Any) -> int:
        with self.service.sessions() as session:
            return int(session.exec(select(func.count()).select_from(model)).one())

    def settled(self) -> None:
        """Every receipt so far went through the pipeline (none waits, none is parked)."""

        def done() -> bool:
            with self.service.sessions() as session:
                statuses = session.exec(select(Receipt.status)).all()
            return all(s == "processed" for s in statuses)

        wait_until(done, what="every receipt processed")

    def employee_of(self, reference: str) -> str:
        with self.service.sessions() as session:
            inquiry = session.exec(select(Inquiry).where(Inquiry.reference == reference)).one()
            employee = session.get(Employee, inquiry.employee_id)
            return employee.key if employee is not None else ""

    def newest(self) -> str:
        with self.service.sessions() as session:
            row: Inquiry | None = session.exec(select(Inquiry).order_by(col(Inquiry.id).desc())).first()
            assert row is not None
            return row.reference

    # --- clients writing and calling in ---

    def arrives(self, name: str, send: Any) -> str:
        """``send()`` one message that opens an inquiry; its reference is kept as ``name``."""
        before = self.count(Inquiry)
        send()
        wait_until(lambda: self.count(Inquiry) > before, what=f"the inquiry {name}")
        self.settled()
        self.refs[name] = self.newest()
        return self.refs[name]

    def mail(self, message: EmailMessage) -> None:
        with smtplib.SMTP("127.0.0.1", self.service.smtp_port, timeout=30) as smtp:
            smtp.send_message(message)

    def whatsapp(self, sid: str, body: str, *, media: list[tuple[str, str]] | None = None) -> None:
        fields = inbound_fields(sid, sender=f"whatsapp:{WHATSAPP}", body=body, profile="Līga Ozola", media=media or [])
        response = httpx.post(self.base + INBOUND, timeout=30, **signed_post(INBOUND, fields))
        assert response.status_code == 200, response.text

    def missed_call(self, sid: str) -> None:
        fields = [
            ("CallSid", sid), ("AccountSid", ACCOUNT), ("From", WHATSAPP), ("Caller", WHATSAPP),
            ("To", "+37167000100"), ("Called", "+37167000100"), ("Direction", "inbound"),
            ("CallStatus", "no-answer"), ("Duration", "0"), ("CallDuration", "0"),
            ("Timestamp", format_datetime(self.clock.now)), ("ApiVersion", "2010-04-01"),
        ]  # fmt: skip
        response = httpx.post(self.base + VOICE, timeout=30, **signed_post(VOICE, fields))
        assert response.status_code == 200, response.text

    def photo_fetched(self, reference: str) -> int:
        """The id of the WhatsApp photo's attachment, once the media fetcher has filled it."""

        def fetched() -> int | None:
            with self.service.sessions() as session:
                row = session.exec(
                    select(Attachment)
                    .join(Message, col(Message.id) == col(Attachment.message_id))
                    .join(Inquiry, col(Inquiry.id) == col(Message.inquiry_id))
                    .where(Inquiry.reference == reference)
                ).first()
                return row.id if row is not None and row.data == PHOTO else None

        found: int = wait_until(fetched, what="the WhatsApp photo fetched from the fake Twilio")
        return found


def client_mail(sender: str, subject: str, text: str, *, in_reply_to: str | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "klienti@example.lv"
    m["Subject"] = subject
    m["Message-ID"] = make_msgid(domain="client.example")
    m["Date"] = format_datetime(datetime.now(UTC))
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
        m["References"] = in_reply_to
    m.set_content(text)
    return m


# --- Chromium ---------------------------------------------------------------------------------


def log_in(day: Day, browser: Any, key: str) -> Any:
    """A browser context of the employee's own (their cookies), logged in; returns its page."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": WIDE, "height": HEIGHT})
    page = context.new_page()

    def dialog(d: Any) -> None:
        day.dialogs.append(d.message)
        d.dismiss()

    def console(m: Any) -> None:
        if "Content Security Policy" in m.text:
            day.csp.append(m.text)

    page.on("dialog", dialog)
    page.on("console", console)
    page.goto(day.base + "/dashboard/login")
    expect(page.locator("html")).to_have_attribute("lang", "lv")  # Latvian unless the user chooses
    page.fill("#employee", key)
    page.fill("#password", PASSWORD)
    page.click("#login")
    expect(page).to_have_url(f"{day.base}/dashboard")
    return page


def shoot(day: Day, page: Any, name: str) -> None:
    """Full-page screenshots at 1280 and at 390 px; at 390 the page must not scroll sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    wide = ARTIFACTS / f"staff-day-{day.db}-{name}-{WIDE}.png"
    page.screenshot(path=str(wide), full_page=True)
    page.set_viewport_size({"width": NARROW, "height": HEIGHT})
    try:
        width = page.evaluate("() => document.documentElement.scrollWidth")
        narrow = ARTIFACTS / f"staff-day-{day.db}-{name}-{NARROW}.png"
        page.screenshot(path=str(narrow), full_page=True)
        if width > NARROW + 1:  # checked at the end of the day, so every page is measured
            day.overflows.append(f"{name}: at {NARROW} px the page is {width} px wide (see {narrow})")
    finally:
        page.set_viewport_size({"width": WIDE, "height": HEIGHT})
    day.shots += [wide, narrow]
