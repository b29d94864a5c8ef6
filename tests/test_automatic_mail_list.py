"""The workspace's list "Automātiskās vēstules" (issue 14): a newsletter from a listed sender, kept
without an inquiry, shows there with its reason and in /metrics by reason; one click (audited)
opens an inquiry from it, with no acknowledgement to the sender. Over real SMTP and HTTP."""

from __future__ import annotations

import smtplib
from typing import Any

import httpx
import pytest

from storage.models import Inquiry, Outbox, Receipt
from storage.staff_models import AuditLog
from tests.dashboard_helpers import csrf_of, give_passwords, login
from tests.smtp_helpers import PUBLIC, rows
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service, wait_until

NEWSLETTER = (
    f"From: Ziņas <info@zinas.example.lv>\r\nTo: {PUBLIC}\r\nSubject: Jaunumi martā\r\n"
    "Message-ID: <news-7@zinas.example.lv>\r\nPrecedence: bulk\r\nList-Unsubscribe: <mailto:off@zinas.example.lv>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\nŠonedēļ: jauni atkritumu konteineri pagalmos.\r\n"
).encode()


def _one_receipt(service: Any) -> Receipt:
    def decided() -> Receipt | None:
        found = rows(service, Receipt)
        return found[0] if len(found) == 1 and found[0].status == "processed" else None

    receipt: Receipt = wait_until(decided, what="the newsletter decided")
    return receipt


@pytest.mark.slow  # a running service
def test_kept_newsletter_is_listed_counted_and_opened_as_an_inquiry_by_a_click(make_settings: Any) -> None:
    settings = settings_with_admin(make_settings, email={"never_inquiry_senders": ["*@zinas.example.lv"]})
    with running_service(settings) as service:
        give_passwords(service.sessions, "koordinatore")
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            smtp.sendmail("bounce@zinas.example.lv", [PUBLIC], NEWSLETTER)
        kept = _one_receipt(service)
        assert rows(service, Inquiry) == []
        base = f"http://127.0.0.1:{service.http_port}"
        metrics = httpx.get(f"{base}/metrics").text
        assert 'gk_automatic_mail{kept="yes",reason="never-inquiry"} 1.0' in metrics

        client, _ = login(base, "koordinatore")
        listed = client.get("/dashboard/inquiries")
        assert 'href="/dashboard/automatic"' in listed.text
        page = client.get("/dashboard/automatic")
        assert page.status_code == 200
        assert f'id="automatic-{kept.id}"' in page.text and "Jaunumi martā" in page.text
        assert "never_inquiry_senders (*@zinas.example.lv)" in page.text
        assert "mail from a sender that never opens an inquiry" in page.text or "nekad neatver" in page.text
        refused = client.post(f"/dashboard/automatic/{kept.id}/inquiry", data={"csrf": "wrong"})
        assert refused.status_code == 403
        opened = client.post(f"/dashboard/automatic/{kept.id}/inquiry", data={"csrf": csrf_of(page.text)})
        assert opened.status_code == 303 and opened.headers["location"] == "/dashboard/automatic?done=queued"

        (inquiry,) = wait_until(lambda: rows(service, Inquiry), what="the inquiry opened from the newsletter")
        receipt = wait_until(lambda: next((r for r in rows(service, Receipt) if r.message_id), None), what="filed")
        outbox, audits = rows(service, Outbox), rows(service, AuditLog)
        after = client.get("/dashboard/automatic").text
    assert inquiry.subject == "Jaunumi martā"
    assert receipt.meta["outcome"]["opened_by"]["by"] == "koordinatore"
    assert receipt.meta["outcome"]["acknowledge"] is False
    assert [o.kind for o in outbox] == ["staff_notification"], "no acknowledgement to the newsletter"
    assert [(a.actor, a.action) for a in audits if a.action.startswith("automatic")] == [
        ("koordinatore", "automatic.open_inquiry")
    ]
    assert f'id="automatic-{kept.id}"' not in after
