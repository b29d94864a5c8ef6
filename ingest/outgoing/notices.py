"""Queuing what people are told: the employee's notification, the client's acknowledgement and
redirect notice (policy clauses 8, 9, 10.1 and 10.3).

Client messages come from Jinja2 templates in Latvian, Russian and English. The
package ships defaults (``ingest/templates``); a ``templates_dir`` in the config
is looked in first, so the office can edit the texts without a release.
Everything is rendered when queued and stored in the outbox in the same
transaction as the change it reports.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from sqlmodel import Session

from ingest.i18n import Catalogs, load_catalogs
from ingest.outgoing.acks import send_ack
from ingest.outgoing.employee_card import EmployeeTexts, card
from ingest.outgoing.queued_events import record_queued
from ingest.outgoing.redirect_reasons import reason_for_client
from ingest.outgoing.staff_mail import email_payload, local_time, new_message_id, staff_notice
from ingest.outgoing.staff_texts import call_client_notice
from ingest.outgoing.writable import writable_email
from storage import inquiry_repo, repo
from storage.models import Contact, Employee, Inquiry, Message, Outbox

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("lv", "ru", "en")
KINDS = ("question", "request", "complaint", "suggestion")
# WhatsApp lets a business send free text only this long after the client's last message.
WHATSAPP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


class ClientTemplates:
    def __init__(self, override_dir: Path | None = None) -> None:
        search = [str(override_dir)] if override_dir else []
        self._env = Environment(
            loader=FileSystemLoader([*search, str(DEFAULT_TEMPLATES)]),
            undefined=StrictUndefined,
            autoescape=False,  # plain-text mail; nothing here is HTML
            keep_trailing_newline=True,
        )

    def render(self, name: str, language: str | None, **context: object) -> Rendered:
        """First line is the subject, the rest (after a blank line) the text."""
        lang = language if language in LANGUAGES else "lv"
        try:
            template = self._env.get_template(f"{name}.{lang}.txt")
        except TemplateNotFound:
            template = self._env.get_template(f"{name}.lv.txt")
        subject, _, text = template.render(**context).partition("\n")
        return Rendered(subject=subject.strip(), text=text.lstrip("\n"))

    def check(self) -> None:
        """Render every template once with sample values, so a broken edit stops the start-up."""
        sample = Employee(key="x", name="Vārds", surname="Uzvārds", position="Amats", email="x@example.lv")
        written = {
            "email": "klienti@example.lv", "postal_address": "Iela 1, Rīga", "visiting_address": "Iela 1, Rīga",
            "visiting_hours": "P.-Pk. 8:00-17:00",
        }  # fmt: skip
        letters = ("ack", "redirect", "written_form", "answer")
        names = (*letters, *(f"{name}_short" for name in letters))
        variants = [(kind, channel) for kind in KINDS for channel in ("email", "phone")]
        for name, lang, (kind, channel) in itertools.product(names, LANGUAGES, variants):
            self.render(
                name, lang, reference="GK-2026-000001", client_name="Klients", employee=sample, due="01.01.2026 17:00",
                office="Birojs", reason="", written=written, text="Atbilde.", kind=kind, channel=channel,
            )  # fmt: skip


@dataclass
class Notices:
    templates: ClientTemplates
    from_address: str
    from_name: str
    office: str
    tz: ZoneInfo
    topic_names: dict[str, str]
    acknowledge: bool = True
    ack_window: timedelta = timedelta(minutes=15)
    # A sender with this many messages within a minute is in a loop (ingest/outgoing/acks.py).
    ack_burst_per_minute: int = 5
    # Whether SMS and WhatsApp can be sent at all (Twilio configured).
    texting: bool = False
    # The staff e-mails' texts, in each employee's language (ingest/i18n).
    catalogs: Catalogs = field(default_factory=load_catalogs)
    # Employees' position, location and reception hours in the clients' other languages (config).
    employee_texts: EmployeeTexts = field(default_factory=dict)
    # The office's name and the sender's name per client language ([service] name, from_name).
    office_names: Mapping[str, str] = field(default_factory=dict)
    from_names: Mapping[str, str] = field(default_factory=dict)

    def translations_for(self, employee: Employee) -> Translations:
        """The catalog of the language the employee works in, for what is written to them."""
        return self.catalogs.get(employee.language)

    @property
    def domain(self) -> str:
        return self.from_address.rpartition("@")[2]

    def reply_address(self, inquiry: Inquiry) -> str:
        """Where staff replies go: the public address with the inquiry's token after a plus."""
        local, _, domain = self.from_address.partition("@")
        return f"{local}+{inquiry.token}@{domain}"

    def tokens_in(self, addresses: tuple[str, ...] | list[str]) -> list[str]:
        """Tokens carried by replies to our reply addresses."""
        local, _, domain = self.from_address.lower().partition("@")
        found = []
        for address in addresses:
            a_local, _, a_domain = address.lower().rpartition("@")
            base, plus, token = a_local.partition("+")
            if plus and base == local and a_domain == domain and token:
                found.append(token)
        return found

    def _queue(
        self,
        session: Session,
        *,
        kind: str,
        inquiry: Inquiry | None,
        to_address: str,
        to_name: str | None,
        subject: str,
        text: str,
        now: datetime,
        in_reply_to: str | None = None,
        extra_headers: dict[str, str] | None = None,
        language: str | None = None,
    ) -> Outbox:
        """An e-mail; ``language``: the client's, for the sender's name (staff get the configured one)."""
        message_id = new_message_id(self.domain)
        reference_header = {"X-Inquiry-Reference": inquiry.reference} if inquiry is not None else {}
        row = Outbox(
            kind=kind,
            channel="email",
            recipient=to_address,
            inquiry_id=inquiry.id if inquiry is not None else None,
            external_id=f"mid:{message_id}",
            payload=email_payload(
                from_address=self.from_address,
                from_name=self.from_names.get(language or "", self.from_name),
                to_address=to_address,
                to_name=to_name,
                subject=subject,
                text=text,
                message_id=message_id,
                date=now,
                in_reply_to=in_reply_to,
                extra_headers={**reference_header, **(extra_headers or {})},
            ),
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        record_queued(session, row, at=now)
        return row

    def staff_message(
        self,
        session: Session,
        *,
        kind: str,
        inquiry: Inquiry | None,
        employee: Employee,
        subject: str,
        text: str,
        now: datetime,
    ) -> Outbox:
        """Any other message to an employee (reminders, escalations, digests)."""
        return self._queue(
            session,
            kind=kind,
            inquiry=inquiry,
            to_address=employee.email,
            to_name=f"{employee.name} {employee.surname}",
            subject=subject,
            text=text,
            now=now,
            extra_headers={"Reply-To": self.reply_address(inquiry)} if inquiry is not None else None,
        )

    def staff(
        self,
        session: Session,
        *,
        inquiry: Inquiry,
        contact: Contact,
        message: Message,
        employee: Employee,
        follow_up: bool,
        now: datetime,
    ) -> Outbox:
        notice = staff_notice(
            inquiry=inquiry,
            contact=contact,
            message=message,
            topic_name=self.topic_names.get(inquiry.topic or ""),
            tz=self.tz,
            follow_up=follow_up,
            translations=self.translations_for(employee),
            named=inquiry_repo.names_in_complaint(session, inquiry),
        )
        return self._queue(
            session,
            kind="staff_followup" if follow_up else "staff_notification",
            inquiry=inquiry,
            to_address=employee.email,
            to_name=f"{employee.name} {employee.surname}",
            subject=notice.subject,
            text=notice.text,
            now=now,
            extra_headers={"Reply-To": self.reply_address(inquiry)},
        )

    # -- to the client, on the channel they used ------------------------------------------

    def reply_route(
        self, session: Session, *, inquiry: Inquiry, contact: Contact, now: datetime
    ) -> tuple[str, str] | None:
        """(channel, address) to reach the client: the channel they wrote on where possible.

        WhatsApp allows free text only within 24 hours of the client's last message; after
        that an SMS to the same number, or e-mail, takes its place.
        """
        usable = contact.email_undeliverable_at is None and writable_email(contact.email)
        email = contact.email if usable else None
        phone = contact.phone if self.texting and _can_text(contact.phone) else None
        if inquiry.channel == "email":
            return ("email", email) if email else (("sms", phone) if phone else None)
        if inquiry.channel == "whatsapp" and phone:
            assert inquiry.id is not None
            last = inquiry_repo.last_incoming_at(session, inquiry_id=inquiry.id, channel="whatsapp")
            if last is not None and now - last < WHATSAPP_WINDOW:
                return "whatsapp", phone
        if phone:
            return "sms", phone
        return ("email", email) if email else None

    def _queue_short(
        self, session: Session, *, kind: str, inquiry: Inquiry, channel: str, phone: str, text: str, now: datetime
    ) -> Outbox:
        """A text message (SMS, WhatsApp); the transport fills in its id once sent."""
        row = Outbox(
            kind=kind,
            channel=channel,
            recipient=phone,
            inquiry_id=inquiry.id,
            payload={"to": phone, "text": text},
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        record_queued(session, row, at=now, data={"channel": channel})
        return row

    def _unreachable(self, session: Session, *, inquiry: Inquiry, what: str, now: datetime) -> None:
        repo.add_event(
            session,
            inquiry_id=inquiry.id,  # type: ignore[arg-type]
            type="client_unreachable",
            at=now,
            data={"what": what, "reason": "no channel to write to: the employee must call the client"},
        )
        employee = session.get(Employee, inquiry.employee_id) if inquiry.employee_id else None
        if employee is not None:
            notice = call_client_notice(inquiry.reference, self.translations_for(employee))
            self.staff_message(session, kind="staff_call_client", inquiry=inquiry, employee=employee,
                               subject=notice.subject, text=notice.text, now=now)  # fmt: skip

    def client_ack(
        self,
        session: Session,
        *,
        inquiry: Inquiry,
        contact: Contact,
        message: Message,
        employee: Employee,
        now: datetime,
        opened_now: bool = False,
        contact_new: bool = False,
    ) -> Outbox | None:
        """Tell the client who handles the inquiry and by when, on the channel the inquiry came on (the
        client's last); one per inquiry, held back only in a loop (ingest/outgoing/acks.py).
        ``opened_now``: the inquiry was opened in this transaction, so it has no acknowledgement yet;
        ``contact_new``: the contact was created for this message, so it is in no burst."""
        if not self.acknowledge:
            return None
        return send_ack(self, session, inquiry=inquiry, contact=contact, employee=employee, now=now,
                        in_reply_to=email_message_id(message.external_id), opened_now=opened_now,
                        contact_new=contact_new)  # fmt: skip

    def send_template(
        self,
        session: Session,
        name: str,
        route: tuple[str, str],
        *,
        inquiry: Inquiry,
        contact: Contact,
        employee: Employee,
        now: datetime,
        in_reply_to: str | None = None,
        **extra: object,
    ) -> Outbox:
        """A templated client message: the short form for texts, the letter for e-mail."""
        channel, address = route
        kind = f"client_{name}"
        if channel != "email":
            short = self._render_for_client(f"{name}_short", inquiry, contact, employee, **extra)
            return self._queue_short(
                session, kind=kind, inquiry=inquiry, channel=channel, phone=address, text=short.text.strip(), now=now
            )
        rendered = self._render_for_client(name, inquiry, contact, employee, **extra)
        return self._queue(
            session,
            kind=kind,
            inquiry=inquiry,
            to_address=address,
            to_name=contact.name,
            subject=_with_reference(rendered.subject, inquiry.reference),
            text=rendered.text,
            now=now,
            in_reply_to=in_reply_to,
            extra_headers={"Auto-Submitted": "auto-replied"},
            language=client_language(inquiry, contact),
        )

    def _render_for_client(
        self, name: str, inquiry: Inquiry, contact: Contact, employee: Employee, **extra: object
    ) -> Rendered:
        language = client_language(inquiry, contact)
        return self.templates.render(
            name,
            language,
            reference=inquiry.reference,
            client_name=contact.name or "",
            employee=card(employee, self.employee_texts, language),
            due=local_time(inquiry.due_at, self.tz) if inquiry.due_at else "",
            office=self.office_names.get(language, self.office),
            # What the texts may say differently: a complaint, a suggestion, a missed call (channel "phone").
            kind=inquiry.kind,
            channel=inquiry.channel,
            **extra,
        )

    def client_redirect(
        self,
        session: Session,
        *,
        inquiry: Inquiry,
        contact: Contact,
        employee: Employee,
        reason: str,
        now: datetime,
        reason_code: str | None = None,
        due_moved: bool = False,
    ) -> Outbox | None:
        """Clause 10.3: the new specialist's name, position, location, phone and reception hours, and
        why: a reason chosen from the list in the client's language, else what staff wrote.
        ``due_moved``: the answer date had passed, and the inquiry's due date is a new one."""
        route = self.reply_route(session, inquiry=inquiry, contact=contact, now=now)
        if route is None:
            self._unreachable(session, inquiry=inquiry, what="client_redirect", now=now)
            return None
        said = reason_for_client(reason_code, reason, client_language(inquiry, contact))
        return self.send_template(
            session, "redirect", route, inquiry=inquiry, contact=contact, employee=employee, now=now, reason=said,
            due_moved=due_moved,
        )  # fmt: skip

    def client_answer(
        self, session: Session, *, inquiry: Inquiry, contact: Contact, employee: Employee, text: str, now: datetime
    ) -> Outbox | None:
        """The employee's answer, signed with their name, surname and position under closing words in
        the client's language (the ``answer`` templates; policy 8), sent to the client from the public
        address (never the employee's)."""
        route = self.reply_route(session, inquiry=inquiry, contact=contact, now=now)
        if route is None:
            self._unreachable(session, inquiry=inquiry, what="client_answer", now=now)
            return None
        channel, address = route
        if channel != inquiry.channel:
            repo.add_event(
                session,
                inquiry_id=inquiry.id,  # type: ignore[arg-type]
                type="answer_channel_changed",
                at=now,
                data={
                    "from": inquiry.channel,
                    "to": channel,
                    "why": "the WhatsApp 24-hour window is closed"
                    if inquiry.channel == "whatsapp"
                    else f"cannot write back on {inquiry.channel}",
                },
            )
        if channel != "email":
            short = self._render_for_client("answer_short", inquiry, contact, employee, text=text.strip())
            return self._queue_short(session, kind="client_answer", inquiry=inquiry, channel=channel, phone=address,
                                     text=short.text.strip(), now=now)  # fmt: skip
        assert inquiry.id is not None
        last_in = inquiry_repo.last_incoming(session, inquiry_id=inquiry.id)
        in_reply_to = email_message_id(last_in.external_id) if last_in else None
        letter = self._render_for_client("answer", inquiry, contact, employee, text=text.strip())
        subject = inquiry.subject or ""
        if not subject.lower().startswith(("re:", "atb:", "ответ:")):
            subject = f"Re: {subject}" if subject else letter.subject
        return self._queue(
            session,
            kind="client_answer",
            inquiry=inquiry,
            to_address=address,
            to_name=contact.name,
            subject=_with_reference(subject, inquiry.reference),
            text=letter.text,
            now=now,
            in_reply_to=in_reply_to,
            # A person's answer, not an automatic message: the client may reply to it.
            extra_headers={"Auto-Submitted": "no"},
            language=client_language(inquiry, contact),
        )


def client_language(inquiry: Inquiry, contact: Contact | None) -> str:
    """The language the client is written to: the inquiry's, else the contact's preference; Latvian."""
    language = inquiry.language or (contact.preferred_language if contact is not None else None)
    return language if language in LANGUAGES else "lv"


def sent_text(sent: Outbox | None, written: str) -> str:
    """What the client received (the text of the queued message), else what the employee wrote."""
    text = sent.payload.get("text") if sent is not None else None
    return text if isinstance(text, str) else written


def _can_text(phone: str | None) -> bool:
    """Latvian landlines (+371 6...) take no text messages; mobile numbers (+371 2...) and foreign ones may."""
    if not phone:
        return False
    return not phone.startswith("+371") or phone.startswith("+3712")


def email_message_id(external_id: str) -> str | None:
    """The RFC 5322 Message-ID inside an e-mail message's external id (``mid:...``)."""
    return external_id.removeprefix("mid:") if external_id.startswith("mid:") else None


def _with_reference(subject: str, reference: str) -> str:
    tag = f"[{reference}]"
    return subject if tag in subject else f"{subject} {tag}"
