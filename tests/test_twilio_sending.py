"""Sending WhatsApp and SMS from the outbox through the real twilio client, and delivery callbacks."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from ingest.outgoing.mail_transport import PermanentFailure, TemporaryFailure
from ingest.outgoing.twilio_transport import TwilioTransport
from storage import repo
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Event, Outbox
from storage.twilio_models import MessageStatus
from storage.types import utcnow
from tests.support import wait_until
from tests.twilio_helpers import ACCOUNT, PUBLIC, STATUS, TOKEN, FakeMessagesApi, signed_post, twilio_section


def queue(service: Any, *, channel: str, to: str, text: str) -> int:
    with transaction(service.sessions) as session:
        row = Outbox(
            kind="client_answer",
            channel=channel,
            recipient=to,
            payload={"to": to, "text": text},
            next_attempt_at=utcnow(),
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        row_id = row.id
    service.outbox_worker.wake()
    return row_id


def outbox(service: Any, row_id: int) -> Outbox:
    with Session(service.engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        return row


def callback(service: Any, sid: str, status: str, error_code: str | None = None) -> int:
    fields = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", ACCOUNT),
        ("MessageStatus", status),
        ("SmsStatus", status),
    ]
    if error_code:
        fields.append(("ErrorCode", error_code))
    response = httpx.post(f"http://127.0.0.1:{service.http_port}{STATUS}", timeout=10, **signed_post(STATUS, fields))
    return response.status_code


@pytest.mark.slow  # a running service and a fake Twilio API
def test_outbox_sends_through_twilio_client_and_status_callbacks_update_the_row(
    make_settings: Any, service_factory: Any
) -> None:
    with FakeMessagesApi() as api:
        settings = make_settings(twilio=twilio_section(api_base_url=api.url))
        with service_factory(settings) as service:
            wa = queue(service, channel="whatsapp", to="+37120000001", text="Labdien! Konteiners tiks iztukšots rīt.")
            wait_until(lambda: outbox(service, wa).status == "sent", what="the WhatsApp message sent")
            (request,) = api.requests
            assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
            assert request["form"]["To"] == "whatsapp:+37120000001"
            assert request["form"]["From"] == "whatsapp:+37167000000"
            assert request["form"]["Body"] == "Labdien! Konteiners tiks iztukšots rīt."
            assert request["form"]["StatusCallback"] == PUBLIC + STATUS
            assert request["auth"] == "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
            sid = outbox(service, wa).external_id.removeprefix("sid:")
            assert outbox(service, wa).external_id == f"sid:{sid}" and sid.startswith("SM")

            for status in ("queued", "sent", "delivered"):
                assert callback(service, sid, status) == 204
            assert callback(service, sid, "sent") == 204  # late and repeated: changes nothing
            row = outbox(service, wa)
            assert row.status == "sent" and row.payload["delivery"]["status"] == "delivered"
            assert row.payload["to"] == "+37120000001"  # the payload itself is kept

            sms = queue(service, channel="sms", to="+37120000002", text="Jūsu pieprasījums ir saņemts.")
            wait_until(lambda: outbox(service, sms).status == "sent", what="the SMS sent")
            assert api.requests[-1]["form"]["To"] == "+37120000002"
            assert api.requests[-1]["form"]["From"] == "+37167000001"
            sms_sid = outbox(service, sms).external_id.removeprefix("sid:")
            assert callback(service, sms_sid, "queued") == 204
            assert callback(service, sms_sid, "failed", "63016") == 204
            row = outbox(service, sms)
            assert row.status == "failed" and "63016" in (row.last_error or "")
            assert row.payload["delivery"] == {**row.payload["delivery"], "status": "failed", "error_code": "63016"}

            # 4xx from Twilio: failed for good after one attempt; 5xx: kept and retried.
            bad = queue(service, channel="sms", to="+37120000400", text="x")
            busy = queue(service, channel="whatsapp", to="+37120000503", text="x")
            wait_until(lambda: outbox(service, bad).status == "failed", what="the 400 recorded")
            wait_until(lambda: outbox(service, busy).attempts >= 2, what="the 503 retried")
            assert outbox(service, bad).attempts == 1 and "21211" in (outbox(service, bad).last_error or "")
            assert outbox(service, busy).status in ("pending", "sending")
            with Session(service.engine) as session:
                stored = session.exec(select(MessageStatus)).all()
            assert sorted((s.status, s.error_code) for s in stored if s.message_sid == sms_sid) == [
                ("failed", "63016"),
                ("queued", None),
            ]


def test_transport_classifies_network_errors_as_temporary() -> None:
    transport = TwilioTransport(
        account_sid=ACCOUNT, auth_token=TOKEN, sms_from="+37167000001", api_base_url="http://127.0.0.1:9", timeout=2
    )
    try:
        transport.send({"to": "+37120000001", "text": "x"}, channel="sms", name="t")
    except TemporaryFailure:
        pass
    else:
        raise AssertionError("a refused connection must be a temporary failure")
    for payload in ({"to": "not a number", "text": "x"}, {"to": "+37120000001"}):
        try:
            transport.send(payload, channel="sms", name="t")
        except PermanentFailure:
            continue
        raise AssertionError(f"{payload} must fail for good")


def test_status_callback_before_the_sid_is_recorded_is_applied_later(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=2)
    migrate(engine)
    sessions = session_factory(engine)
    now = utcnow()
    try:
        with transaction(sessions) as session:
            row = Outbox(
                kind="client_answer",
                channel="whatsapp",
                recipient="+37120000001",
                payload={"to": "+37120000001", "text": "x"},
                status="sending",
                inquiry_id=None,
            )
            session.add(row)
            session.flush()
            row_id = row.id
        with transaction(sessions) as session:
            assert repo.record_message_status(
                session, message_sid="SMearly", status="undelivered", error_code="63016", now=now
            ) == (True, None)
        with transaction(sessions) as session:  # Twilio repeats it: stored once
            assert (
                repo.record_message_status(
                    session, message_sid="SMearly", status="undelivered", error_code="63016", now=now
                )[0]
                is False
            )
        with transaction(sessions) as session:
            repo.link_message_sid(session, outbox_id=row_id, message_sid="SMearly", now=now + timedelta(seconds=1))
        with Session(engine) as session:
            row = session.get(Outbox, row_id)
            assert row is not None and row.external_id == "sid:SMearly"
            assert row.status == "failed" and row.payload["delivery"]["error_code"] == "63016"
            assert session.exec(select(MessageStatus)).one().outbox_id == row_id
            assert session.exec(select(Event)).all() == []  # no inquiry: no event
    finally:
        engine.dispose()
