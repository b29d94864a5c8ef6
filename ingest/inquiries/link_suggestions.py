"""The links between an e-mail address and a phone number that the service suggests (a number in
an e-mail's signature, the same name: ingest/pipeline/link_suggest.py), as staff see and decide
them. Accepting links the two as staff linking them by hand would (ingest/inquiries/
contact_links.py); dismissing keeps the pair from being suggested again. Audited by the caller.

Staff see, accept and dismiss a suggestion only when they may see an inquiry of each of its two
clients (ingest/inquiries/access.py): it shows both clients' address, number and name, and
accepting it moves one client's inquiries to the other, so seeing one side is not enough.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from ingest.api.auth import Principal
from ingest.inquiries.access import visible
from ingest.inquiries.contact_links import Linked, LinkError, link_contact
from storage import link_repo
from storage.link_models import SuggestionState
from storage.models import Inquiry


class SuggestionGone(LookupError):
    """No open suggestion with this id that the caller may see (decided already, its contacts
    changed since, or never there)."""


def seen_by(session: Session, principal: Principal) -> list[ColumnElement[bool]]:
    """The conditions that ``principal`` may see an inquiry of each of the suggestion's clients."""
    shown = visible(principal, session.get_bind().dialect.name)
    return [
        exists(select(col(Inquiry.id)).where(col(Inquiry.contact_id) == col(side.id), shown))
        for side in (link_repo.EmailSide, link_repo.PhoneSide)
    ]


def open_suggestions(session: Session, principal: Principal) -> list[link_repo.Shown]:
    return link_repo.open_suggestions(session, where=seen_by(session, principal))


def accept(session: Session, *, suggestion_id: int, principal: Principal, now: datetime) -> Linked:
    """Link the suggestion's address and number; SuggestionGone when it is not open to the caller."""
    shown = _open(session, suggestion_id, principal)
    email, phone = shown.email_contact.email, shown.phone_contact.phone
    assert email is not None and phone is not None  # open_suggestions shows linkable pairs only
    try:
        linked = link_contact(session, email=email, phone=phone)
    except LinkError as exc:  # a number a call log wrote in no known form: link it by hand
        raise SuggestionGone(f"link suggestion {suggestion_id} cannot be linked: {exc}") from None
    _decide(session, shown, SuggestionState.ACCEPTED, principal, now)
    return linked


def dismiss(session: Session, *, suggestion_id: int, principal: Principal, now: datetime) -> link_repo.Shown:
    """Never suggest this pair again; SuggestionGone when it is not open to the caller."""
    shown = _open(session, suggestion_id, principal)
    _decide(session, shown, SuggestionState.DISMISSED, principal, now)
    return shown


def _open(session: Session, suggestion_id: int, principal: Principal) -> link_repo.Shown:
    shown = link_repo.open_suggestion(session, suggestion_id=suggestion_id, where=seen_by(session, principal))
    if shown is None:
        raise SuggestionGone(f"no open link suggestion {suggestion_id} that you may see")
    return shown


def _decide(
    session: Session, shown: link_repo.Shown, state: SuggestionState, principal: Principal, now: datetime
) -> None:
    row = shown.suggestion
    row.state, row.decided_at, row.decided_by = state.value, now, principal.key
    session.add(row)
    session.flush()
