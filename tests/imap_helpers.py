"""Test mail for the IMAP tests and benchmarks, and helpers that fill and read a Dovecot mailbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from tests.dovecot import ImapUser

SUBJECTS = [
    ("Neizvesti atkritumi", "Labdien! Jau otro nedēļu netiek izvesti atkritumi no Brīvības ielas {n}.", "utf-8"),
    ("Нет горячей воды", "Здравствуйте, в квартире {n} нет горячей воды с понедельника.", "koi8-r"),
    ("Pothole on the street", "There is a large pothole in front of house {n}, please repair it.", "us-ascii"),
    ("Rēķins par apkuri", "Lūdzu paskaidrot rēķinu par apkuri, līguma nr. {n}.", "iso-8859-13"),
    ("Sniegs nav notīrīts", "Mūsu ielā nav notīrīts sniegs, māja {n}.", "utf-8"),
    ("Tek jumts", "Dzīvoklī {n} tek jumts, lūdzu remontu.", "utf-8"),
    ("Jautājums", "Vēlos uzzināt jūsu darba laiku ({n})?", "utf-8"),
]


def client_message(n: int, *, message_id: bool = True, attachment: bool | None = None) -> bytes:
    """A distinct client message: its own sender, subject and (usually) Message-ID."""
    subject, body, charset = SUBJECTS[n % len(SUBJECTS)]
    msg = EmailMessage()
    msg["From"] = f"Klients {n} <client{n}@client{n % 17}.example>"
    msg["To"] = "klienti@example.lv"
    msg["Subject"] = f"{subject} #{n}"
    msg["Date"] = format_datetime(datetime(2026, 11, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=n))
    if message_id:
        msg["Message-ID"] = make_msgid(idstring=f"m{n}", domain=f"client{n % 17}.example")
    msg.set_content(body.format(n=n), charset=charset if charset != "us-ascii" else "utf-8")
    if attachment if attachment is not None else n % 5 == 3:
        msg.add_attachment(
            b"%PDF-1.4 fake " + str(n).encode(), maintype="application", subtype="pdf", filename=f"akts-{n}.pdf"
        )
    return msg.as_bytes()


def append_all(user: ImapUser, messages: list[bytes], folder: str = "INBOX") -> None:
    """APPEND over one connection (fast)."""
    client = user.client(folder=None)
    try:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for raw in messages:
            client.append(folder, raw)
    finally:
        client.logout()


def flags_by_uid(user: ImapUser, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
    client = user.client(folder=None)
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        return {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()} if uids else {}
    finally:
        client.logout()
