"""A running office on a clock the test moves, for the tests of one client on several channels
(call-back tasks, link suggestions): clients' WhatsApp messages, missed calls and e-mails stored
as the receivers store them, the staff API with an employee's token and the workspace over real
HTTP, and the rows read back.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from sqlmodel import Session, select

from channels.calls import call_document, encode
from ingest.api.tokens import create_token
from storage.db import transaction
from storage.models import Inquiry, Message, Outbox, Receipt, ReceiptStatus
from tests.dashboard_helpers import NOW, Clock, give_passwords, login
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service, wait_until
from tests.twilio_helpers import twilio_section

T = TypeVar("T")
EMPLOYEE = "atkritumi-1"  # the waste specialist: WhatsApp about waste goes to her


@dataclass
class ClientDesk:
    service: Any
    clock: Clock
    token: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.service.http_port}"

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """The staff API, with the waste specialist's token or ``token``."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def workspace(self, key: str = EMPLOYEE) -> httpx.Client:
        give_passwords(self.service.sessions, key)
        client, response = login(self.base, key)
        assert response.status_code == 303, response.text
        return client

    # -- what clients send --------------------------------------------------------------------

    def whatsapp(self, sid: str, number: str, body: str, *, profile: str = "Anna Liepa") -> None:
        fields = {"MessageSid": sid, "From": f"whatsapp:{number}", "To": "whatsapp:+37167000000", "Body": body,
                  "NumMedia": "0", "ProfileName": profile, "WaId": number.lstrip("+")}  # fmt: skip
        self._store("whatsapp", "twilio", urllib.parse.urlencode(fields).encode())

    def missed_call(self, call_id: str, number: str) -> None:
        document = call_document(source="twilio-voice", call_id=call_id, from_raw=number, to_raw="+37167000100",
                                 start=self.clock(), answered=False, duration=0, disposition="no-answer",
                                 direction="inbound")  # fmt: skip
        self._store("phone", "twilio-voice", encode(document))

    def mail(self, mid: str, sender: str, subject: str, body: str) -> None:
        raw = (f"From: {sender}\r\nTo: klienti@example.lv\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n"
               f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()  # fmt: skip
        self._store("email", "smtp", raw)

    def _store(self, channel: str, source: str, raw: bytes) -> None:
        stored = self.service.receipts.store_sync(self.service.pipeline.channels[channel], source=source, raw=raw,
                                                  meta={})  # fmt: skip
        wait_until(lambda: self._processed(stored.id), what=f"the {channel} receipt processed")

    def _processed(self, receipt_id: int) -> bool:
        with self.service.sessions() as session:
            row = session.get(Receipt, receipt_id)
            assert row is not None and row.status != ReceiptStatus.PARKED.value, row.last_error if row else None
            return bool(row.status == ReceiptStatus.PROCESSED.value)

    # -- what is stored -----------------------------------------------------------------------

    def rows(self, model: type[T], *where: Any) -> list[T]:
        with Session(self.service.engine) as session:
            return list(session.exec(select(model).where(*where).order_by(model.id)).all())  # type: ignore[attr-defined]

    def outbox(self, kind: str) -> list[Outbox]:
        return self.rows(Outbox, Outbox.kind == kind)

    def inquiry(self, reference: str) -> Inquiry:
        (row,) = self.rows(Inquiry, Inquiry.reference == reference)
        return row

    def newest_reference(self) -> str:
        return str(self.rows(Inquiry)[-1].reference)

    def message_with(self, text: str) -> Message:
        (row,) = [m for m in self.rows(Message) if text in m.text]
        return row


@contextmanager
def client_desk(make_settings: Callable[..., Any], **sections: Any) -> Iterator[ClientDesk]:
    """The example office with Twilio, one working day's threading window, the clock at
    :data:`NOW` (a Wednesday morning) and an API token of the waste specialist."""
    sections.setdefault("threading", {"cross_channel_hours": 8})
    settings = settings_with_admin(make_settings, twilio=twilio_section(), **sections)
    clock = Clock(NOW)
    with running_service(settings, clock=clock) as service:
        with transaction(service.sessions) as session:
            token = create_token(session, employee_key=EMPLOYEE, name="test", now=clock()).secret
        yield ClientDesk(service=service, clock=clock, token=token)
