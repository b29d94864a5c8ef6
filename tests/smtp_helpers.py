"""Client mail over SMTP to the running service, and rows read back from its database."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from sqlmodel import Session, select

CLIENT = "janis.berzins@client.example"
PUBLIC = "klienti@example.lv"


def client_mail(subject: str, body: str, *, message_id: str | None = None, sender: str = CLIENT) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Jānis Bērziņš <{sender}>"
    msg["To"] = PUBLIC
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(body)
    return msg


def send(port: int, msg: EmailMessage | bytes, *, rcpt: str = PUBLIC, sender: str = CLIENT) -> Any:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        if isinstance(msg, bytes):
            return smtp.sendmail(sender, [rcpt], msg)
        return smtp.send_message(msg, from_addr=sender, to_addrs=[rcpt])


def rows(service: Any, model: Any) -> list[Any]:
    with Session(service.engine) as session:
        return list(session.exec(select(model)).all())
