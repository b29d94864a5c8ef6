"""Output safety: no client data in the logs, and client text can never add mail headers.

The log test drives the real service (SMTP listener, Twilio webhook, relay) at DEBUG with the
logging `ingest serve` sets up, and searches every formatted record, tracebacks included.
"""

from __future__ import annotations

import base64
import email
import logging
import smtplib
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from ingest.logs import setup_logging
from ingest.outgoing.mail_transport import build_email
from storage.models import Message, Outbox
from tests.pipeline_office import PipelineOffice, pipeline_office
from tests.staff_proof_helpers import STAFF_REPLIES, vouch
from tests.support import wait_until
from tests.twilio_helpers import INBOUND, inbound_fields, signed_post, twilio_section

NAME = "Zigfrīds Ķeņģeris"
EMAIL = "zigfrids.kengeris@example.lv"
PHONE = "+37129876543"
MAIL_TEXT = "Pie mājas Ūdens iela 42 netiek izvesti atkritumi jau divas nedēļas."
WHATSAPP_TEXT = "Konteiners pie Ūdens ielas 42 nav iztukšots"
ANSWER_TEXT = "Atkritumi tiks izvesti rīt līdz pusdienlaikam."


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # message, arguments and any traceback


@pytest.fixture
def logged() -> Iterator[Collect]:
    """The logging of `ingest serve --config` with log_level DEBUG, plus a collecting handler."""
    root = logging.getLogger()
    saved = (
        root.handlers[:],
        root.level,
        {n: logging.getLogger(n).level for n in ("mail.log", "apscheduler", "uvicorn.error")},
    )
    setup_logging("DEBUG")
    collect = Collect()
    root.addHandler(collect)
    try:
        yield collect
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def test_no_client_data_in_the_logs(make_settings: Any, relay: Any, service_factory: Any, logged: Collect) -> None:
    settings = make_settings(
        outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"},
        twilio=twilio_section(),
        staff_replies=STAFF_REPLIES,
    )
    with service_factory(settings) as service:
        mail = EmailMessage()
        mail["From"] = formataddr((NAME, EMAIL))
        mail["To"] = "klienti@example.lv"
        mail["Subject"] = "Neizvesti atkritumi, Ūdens iela 42"
        mail["Message-ID"] = "<zk-log-1@mail.example.lv>"
        mail.set_content(MAIL_TEXT)
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            smtp.send_message(mail, from_addr=EMAIL, to_addrs=["klienti@example.lv"])
        fields = inbound_fields("SM" + "4" * 32, sender=f"whatsapp:{PHONE}", body=WHATSAPP_TEXT, profile=NAME)
        answer = httpx.post(
            f"http://127.0.0.1:{service.http_port}{INBOUND}", timeout=30, **signed_post(INBOUND, fields)
        )
        assert answer.status_code == 200
        (notice,) = wait_until(lambda: [m for m in relay.parsed() if "e-pasts" in m.get_content()], what="notice")
        reply = EmailMessage()
        reply["From"] = notice["To"]
        reply["To"] = notice["Reply-To"]
        reply["Subject"] = "Re: " + str(notice["Subject"])
        reply["In-Reply-To"] = notice["Message-ID"]
        quoted = "\n".join("> " + line for line in notice.get_content().splitlines())
        reply.set_content(f"{ANSWER_TEXT}\n\n{quoted}\n")
        vouch(reply)
        employee = notice["To"].addresses[0].addr_spec
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            smtp.send_message(reply, from_addr=employee, to_addrs=[reply["To"].addresses[0].addr_spec])
        # relay.parsed(), not clients(): this client's address is on the staff's domain.
        wait_until(
            lambda: [m for m in relay.parsed() if ANSWER_TEXT in m.get_content()], what="the answer at the client"
        )
        with Session(service.engine) as session:
            wait_until(
                lambda: session.exec(select(Message).where(Message.channel == "whatsapp")).first(), what="whatsapp"
            )

    assert any("receipt" in line for line in logged.lines), "the service logged nothing: the test would prove nothing"
    values = [NAME, "Zigfrīds", "Ķeņģeris", EMAIL, "zigfrids", PHONE, PHONE[1:], PHONE[4:], "Ūdens iel", MAIL_TEXT[:20],
              WHATSAPP_TEXT[:20], ANSWER_TEXT[:20], "Neizvesti atkritumi"]  # fmt: skip
    leaks = [(value, line) for line in logged.lines for value in values if value.lower() in line.lower()]
    assert leaks == []


# -- headers -----------------------------------------------------------------------------------

INJECTED_SUBJECT = "Hi\r\nBcc: evil@example.com\r\nX-Evil: 1\x00\x1b[31m"
INJECTED_NAME = "Zigfrīds\r\nBcc: evil2@example.com"


def _encoded_word(text: str) -> str:
    """How a hostile mailer smuggles CR/LF into a header: an RFC 2047 word decodes to them."""
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings()) as office:
        yield office


STAFF_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "X-Auto-Response-Suppress",
                 "X-Inquiry-Reference", "Reply-To", "Content-Type", "Content-Transfer-Encoding",
                 "MIME-Version"]  # fmt: skip
CLIENT_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
                  "X-Auto-Response-Suppress", "X-Inquiry-Reference", "Content-Type", "Content-Transfer-Encoding",
                  "MIME-Version"]  # fmt: skip


def test_crlf_in_subject_and_name_never_becomes_a_header(world: PipelineOffice) -> None:
    raw = (
        f"From: {_encoded_word(INJECTED_NAME)} <{EMAIL}>\r\n"
        "To: klienti@example.lv\r\n"
        f"Subject: {_encoded_word(INJECTED_SUBJECT)} atkritumi\r\n"
        "Message-ID: <inject-1@mail.example.lv>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\nNetiek izvesti atkritumi.\r\n"
    ).encode()
    world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=raw, meta={})
    world.pipeline.process_due()
    with Session(world.engine) as session:
        message = session.exec(select(Message)).one()
        rows = {r.kind: r for r in session.exec(select(Outbox)).all()}
    # The hostile text reaches the notices (the parser folds line breaks, not other controls).
    assert "Bcc: evil@example.com" in (message.subject or "") and "Bcc: evil2" in (message.sender_name or "")
    for kind, expected in (("staff_notification", STAFF_HEADERS), ("client_ack", CLIENT_HEADERS)):
        sent = build_email(rows[kind].payload).as_bytes()
        parsed = email.message_from_bytes(sent, policy=policy.default)
        assert parsed.keys() == expected, (kind, parsed.keys())
        assert parsed.get_content_type() == "text/plain" and not parsed.is_multipart()
        for value in parsed.values():
            assert not any(ch in value for ch in "\r\n\x00\x1b"), (kind, value)
        assert b"\r\nBcc:" not in sent and b"\nX-Evil" not in sent
    staff = email.message_from_bytes(build_email(rows["staff_notification"].payload).as_bytes(), policy=policy.default)
    assert "Bcc: evil@example.com" in staff.get_content()  # shown to the employee as text, on one line
    ack = email.message_from_bytes(build_email(rows["client_ack"].payload).as_bytes(), policy=policy.default)
    assert (
        ack["To"].addresses[0].addr_spec == EMAIL
        and ack["To"].addresses[0].display_name == "Zigfrīds Bcc: evil2@example.com"
    )
    assert ack["In-Reply-To"] == "<inject-1@mail.example.lv>"


def test_build_email_guards_any_payload() -> None:
    """Whoever wrote the payload (a future caller, an old outbox row), the headers stay ours."""
    payload = {
        "from": ["Klientu apkalpošana", "klienti@example.lv"],
        "to": [INJECTED_NAME, EMAIL],
        "subject": INJECTED_SUBJECT,
        "text": "Teksts",
        "message_id": "abc@example.lv",
        "date": "Wed, 25 Nov 2026 09:00:00 +0000",
        "in_reply_to": "x@example.lv>\r\nBcc: evil3@example.com",
        "headers": {"Reply-To": "klienti+t@example.lv\r\nBcc: evil4@example.com", "Bad\r\nName": "x"},
    }
    sent = build_email(payload).as_bytes()
    parsed = email.message_from_bytes(sent, policy=policy.default)
    assert parsed.keys() == ["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
                             "Auto-Submitted", "X-Auto-Response-Suppress", "Reply-To", "Content-Type",
                             "Content-Transfer-Encoding", "MIME-Version"]  # fmt: skip
    assert parsed["Reply-To"].addresses[0].addr_spec == "klienti+t@example.lv"  # the rest is on its line, inert
    assert parsed.get_all("Bcc") is None and b"\r\nBcc" not in sent
    # The same payload gives the same headers every time (a retry is the same message).
    assert build_email(payload).as_bytes() == sent
