"""The links between an e-mail address and a phone number that the service suggests (a number in
an e-mail's signature, the same name: ingest/pipeline/link_suggest.py), as staff see and decide
them. Accepting links the two as staff linking them by hand would (ingest/inquiries/
contact_links.py); dismissing keeps the pair from being suggested again. Audited by the caller.

Staff see a suggestion when they may see an inquiry of either client (ingest/inquiries/
access.py): what the suggestion shows of the other client (an address, a number, a name) is what
they need to decide it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, or_, select
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
    """The condition that ``principal`` may see an inquiry of one of the suggestion's clients."""
    clients = or_(
        col(Inquiry.contact_id) == col(link_repo.EmailSide.id), col(Inquiry.contact_id) == col(link_repo.PhoneSide.id)
    )
    seen = select(col(Inquiry.id)).where(clients, visible(principal, session.get_bind().dialect.name))
    return [exists(seen)]


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
