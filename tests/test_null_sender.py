"""Mail with an empty envelope sender (MAIL FROM:<>) is automatic whatever its From says: no inquiry,
no acknowledgement (RFC 5321 4.5.5, RFC 3834); one without a usable From is filed, not parked
(issue 14, part). Over real SMTP, on both databases."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest

from storage.models import Inquiry, Outbox, Receipt
from tests.smtp_helpers import PUBLIC, rows
from tests.support import wait_until


def mail(sender_header: str, subject: str) -> bytes:
    head = f"{sender_header}To: {PUBLIC}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@antivirus.example>\r\n"
    return f"{head}Content-Type: text/plain; charset=utf-8\r\n\r\nThe message was scanned.\r\n".encode()


@pytest.mark.slow  # a running service
def test_an_empty_envelope_sender_opens_nothing_and_is_answered_by_nothing(
    make_settings: Any, service_factory: Any
) -> None:
    with service_factory(make_settings()) as service:
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            smtp.sendmail("", [PUBLIC], mail("From: Symantec_AntiVirus <av@corp.example>\r\n", "scan-1"))
            smtp.sendmail("", [PUBLIC], mail("From: <>\r\n", "scan-2"))
            smtp.sendmail("", [PUBLIC], mail("", "scan-3"))

        def decided() -> list[Receipt] | None:
            receipts = rows(service, Receipt)
            return receipts if len(receipts) == 3 and all(r.status != "pending" for r in receipts) else None

        done = wait_until(decided, what="the three receipts decided")
        inquiries, outbox = rows(service, Inquiry), rows(service, Outbox)
    assert [r.status for r in done] == ["processed"] * 3, "filed as automatic, none parked"
    assert all(r.meta["outcome"]["automatic"] == "auto-reply" for r in done)
    assert "MAIL FROM:<>" in done[0].meta["outcome"]["why"]
    assert inquiries == [] and outbox == [], "no inquiry, nothing written back"
