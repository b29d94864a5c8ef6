"""A running office for the staff API tests: the real service, real mail in, tokens per role."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
from sqlmodel import func, select

from ingest.api.tokens import create_token
from storage.db import transaction
from storage.models import Inquiry
from storage.types import utcnow
from tests.support import example_document, running_service, wait_until

# A PNG's signature and a scrap of HTML with a script: what a browser must never run from us.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HTML = b"<html><script>alert(1)</script></html>"

ROLE_KEYS = {
    "employee": "atkritumi-1",
    "supervisor": "koordinatore",
    "board": "valde",
    "admin": "it-admin",
    "other_employee": "siltums",
}


def settings_with_admin(make_settings: Callable[..., Any], **sections: Any) -> Any:
    employees = list(example_document()["employees"])
    employees.append(
        {
            "key": "it-admin", "name": "Aivars", "surname": "Admins", "position": "IT administrators",
            "email": "aivars.admins@example.lv", "role": "admin",
        }
    )  # fmt: skip
    # The seeds are one client's two waste inquiries the same minute: with no threading window
    # the second mail opens its own inquiry instead of joining the first (ingest/pipeline/joining.py).
    sections.setdefault("threading", {"cross_channel_hours": 0})
    return make_settings(employees=employees, **sections)


def mail(subject: str, text: str, *, sender: str, attachments: tuple[tuple[bytes, str, str], ...] = ()) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "klienti@example.lv"
    m["Subject"] = subject
    m["Message-ID"] = make_msgid(domain="client.example")
    m.set_content(text)
    for data, ctype, filename in attachments:
        main, _, sub = ctype.partition("/")
        m.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return m


@dataclass
class Office:
    service: Any
    tokens: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.service.http_port}"

    def call(self, method: str, path: str, role: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP("127.0.0.1", self.service.smtp_port, timeout=30) as smtp:
            smtp.send_message(message)

    def count(self) -> int:
        with self.service.sessions() as session:
            return int(session.exec(select(func.count()).select_from(Inquiry)).one())

    def newest_reference(self) -> str:
        with self.service.sessions() as session:
            row = session.exec(select(Inquiry).order_by(Inquiry.id.desc())).first()  # type: ignore[union-attr]
            assert row is not None
            return row.reference

    def seed(self, name: str, message: EmailMessage) -> str:
        before = self.count()
        self.send(message)
        wait_until(lambda: self.count() > before, what=f"inquiry {name}")
        self.refs[name] = self.newest_reference()
        return self.refs[name]

    def token_for(self, employee_key: str) -> tuple[int, str]:
        with transaction(self.service.sessions) as session:
            new = create_token(session, employee_key=employee_key, name="test", now=utcnow())
        return new.id, new.secret


@contextmanager
def office(settings: Any) -> Iterator[Office]:
    """The example office with its seeds: two waste inquiries of one client (one with
    attachments), a heating one, and a complaint naming the waste specialist Kalniņš."""
    with running_service(settings) as service:
        o = Office(service=service)
        for role, key in ROLE_KEYS.items():
            o.tokens[role] = o.token_for(key)[1]
        o.seed(
            "waste",
            mail(
                "Neizvesti atkritumi",
                "Labdien! Jau nedēļu netiek izvesti atkritumi no Brīvības ielas 12.",
                sender="Jānis Ozoliņš <janis@client.example>",
                attachments=((PNG, "image/png", "konteiners.png"), (HTML, "text/html", "lapa.html")),
            ),
        )
        o.seed(
            "waste2",
            mail(
                "Konteiners",
                "Lūdzu nomainīt salauzto konteineru pie mājas.",
                sender="Jānis Ozoliņš <janis@client.example>",
            ),
        )
        o.seed(
            "heating",
            mail("Nav apkures", "Dzīvoklī nav apkures, un Karstā ŪDENS arī nav.", sender="anna@client.example"),
        )
        o.seed(
            "complaint",
            mail(
                "Sūdzība",
                "Sūdzība: speciālists Jānis Kalniņš bija rupjš pa tālruni, atkritumi joprojām nav izvesti.",
                sender="peteris@client.example",
            ),
        )
        yield o
