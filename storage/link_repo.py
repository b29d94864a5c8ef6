"""Link suggestions between an e-mail contact and a phone contact (storage/link_models.py).

Only a pair that linking would join as it is meant to is suggested or shown: an e-mail contact
without a number, and a phone contact (phone, SMS, WhatsApp) without an address. Linking gives
the number's contact the address and empties the address's contact (ingest/inquiries/
contact_links.py), so a suggestion whose contacts changed since is no longer shown.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.link_models import ContactLinkSuggestion, SuggestionReason, SuggestionState
from storage.models import Contact
from storage.types import UTCDateTime

# A number or a name that many contacts share says little about any one of them.
MAX_PER_MESSAGE = 5

EmailSide = aliased(Contact, name="email_contact")
PhoneSide = aliased(Contact, name="phone_contact")


def _email_only(contact: Any) -> ColumnElement[bool]:
    return and_(contact.email.is_not(None), contact.phone.is_(None))


def _phone_only(contact: Any) -> ColumnElement[bool]:
    return and_(contact.phone.is_not(None), contact.email.is_(None))


def suggest_by_phone(
    session: Session, *, email_contact_id: int, numbers: Collection[str], message_id: int | None, now: datetime
) -> None:
    """The phone contacts with one of ``numbers`` suggested for the e-mail contact; one statement."""
    others = select(col(Contact.id)).where(col(Contact.phone).in_(sorted(numbers)), _phone_only(Contact))
    _suggest(session, others, email_side=email_contact_id, reason=SuggestionReason.PHONE_IN_TEXT,
             message_id=message_id, now=now)  # fmt: skip


def suggest_by_name(session: Session, *, contact: Contact, key: str, message_id: int | None, now: datetime) -> None:
    """The contacts of the other kind with the same name key suggested for ``contact`` (an e-mail
    contact, or a phone contact); one statement."""
    assert contact.id is not None
    is_email = contact.email is not None
    other_kind = _phone_only(Contact) if is_email else _email_only(Contact)
    others = select(col(Contact.id)).where(col(Contact.name_key) == key, other_kind, col(Contact.id) != contact.id)
    _suggest(session, others, email_side=contact.id if is_email else None,
             phone_side=None if is_email else contact.id, reason=SuggestionReason.SAME_NAME,
             message_id=message_id, now=now)  # fmt: skip


def _suggest(
    session: Session,
    others: Any,
    *,
    reason: SuggestionReason,
    message_id: int | None,
    now: datetime,
    email_side: int | None = None,
    phone_side: int | None = None,
) -> None:
    """INSERT … SELECT of the pairs of the given contact with ``others`` (the one id selected),
    a pair already suggested (open, accepted or dismissed) left as it is."""
    other = others.order_by(col(Contact.id)).limit(MAX_PER_MESSAGE).subquery()
    email_id = literal(email_side) if email_side is not None else other.c.id
    phone_id = literal(phone_side) if phone_side is not None else other.c.id
    rows = select(email_id, phone_id, literal(reason.value), literal(message_id), literal(SuggestionState.OPEN.value),
                  literal(now, UTCDateTime())).select_from(other).where(other.c.id.is_not(None))  # fmt: skip
    table = ContactLinkSuggestion.__table__  # type: ignore[attr-defined]
    columns = ["email_contact_id", "phone_contact_id", "reason", "message_id", "state", "created_at"]
    insert = postgresql.insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(table)
    # SQLite reads ON CONFLICT after INSERT … SELECT only when the SELECT has a WHERE: it has.
    stmt = insert.from_select(columns, rows).on_conflict_do_nothing(
        index_elements=["email_contact_id", "phone_contact_id"]
    )
    session.execute(stmt)


@dataclass(frozen=True)
class Shown:
    """An open suggestion with both contacts as they are now."""

    suggestion: ContactLinkSuggestion
    email_contact: Contact
    phone_contact: Contact


def open_suggestions(session: Session, *, where: list[ColumnElement[bool]], limit: int = 200) -> list[Shown]:
    """Open suggestions whose contacts can still be linked, oldest first; ``where``: conditions on
    :data:`EmailSide` and :data:`PhoneSide` (who may see them)."""
    stmt = (
        select(ContactLinkSuggestion, EmailSide, PhoneSide)
        .join(EmailSide, col(EmailSide.id) == col(ContactLinkSuggestion.email_contact_id))
        .join(PhoneSide, col(PhoneSide.id) == col(ContactLinkSuggestion.phone_contact_id))
        .where(
            col(ContactLinkSuggestion.state) == SuggestionState.OPEN.value,
            _email_only(EmailSide),
            _phone_only(PhoneSide),
            *where,
        )
        .order_by(col(ContactLinkSuggestion.id))
        .limit(limit)
    )
    return [Shown(s, e, p) for s, e, p in session.execute(stmt).all()]


def open_suggestion(session: Session, *, suggestion_id: int, where: list[ColumnElement[bool]]) -> Shown | None:
    """One open suggestion as :func:`open_suggestions` would show it; locked until the commit, so
    two staff deciding it at once decide it once."""
    row = session.get(ContactLinkSuggestion, suggestion_id, with_for_update=True)
    if row is None or row.state != SuggestionState.OPEN.value:
        return None
    shown = open_suggestions(session, where=[col(ContactLinkSuggestion.id) == suggestion_id, *where], limit=1)
    return shown[0] if shown else None
