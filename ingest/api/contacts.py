"""``POST /api/v1/contacts/links``: staff link an e-mail address and a phone number to one client
(ingest/inquiries/contact_links.py); audited as ``contact.link`` with ids only. The links the
service suggests (``/api/v1/contacts/link-suggestions``, ingest/inquiries/link_suggestions.py)
are listed, accepted (linked and audited alike) or dismissed (``contact.link_dismiss``)."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at import time.

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from ingest.api.auth import INQUIRY_ROLES, Caller, Context, Principal, require_roles
from ingest.api.errors import ERROR_RESPONSES, ApiError
from ingest.api.schemas import MAX_ID
from ingest.inquiries import audit
from ingest.inquiries import link_suggestions as suggestions
from ingest.inquiries.contact_links import Linked, LinkError, link_contact
from ingest.inquiries.link_suggestions import SuggestionGone
from storage.db import transaction
from storage.link_repo import Shown

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"], responses=ERROR_RESPONSES)


class ContactLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    phone: str = Field(min_length=3, max_length=32)


class ContactLinkOut(BaseModel):
    contact_id: int
    email: str
    phone: str
    merged_contact_id: int | None = Field(description="the address's former contact, emptied into this one")
    moved_inquiries: list[int]


@router.post("/links", response_model=ContactLinkOut, summary="Link an e-mail address and a phone number")
def link(principal: Caller, ctx: Context, body: ContactLinkIn) -> ContactLinkOut:
    require_roles(principal, *INQUIRY_ROLES, what="link a client's address and number")
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        try:
            linked = link_contact(session, email=body.email, phone=body.phone)
        except LinkError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        return _linked(session, principal, linked, now)


def _linked(
    session: Session, principal: Principal, linked: Linked, now: datetime, suggestion_id: int | None = None
) -> ContactLinkOut:
    """Audited as ``contact.link``, by hand or from a suggestion (its id then in the detail)."""
    contact = linked.contact
    assert contact.id is not None and contact.email is not None and contact.phone is not None
    from_suggestion = {"suggestion_id": suggestion_id} if suggestion_id is not None else {}
    audit.record(session, principal=principal, action="contact.link", now=now, detail={
        "contact_id": contact.id, "merged_contact_id": linked.merged_contact_id,
        "moved_inquiries": linked.moved_inquiries, **from_suggestion,
    })  # fmt: skip
    return ContactLinkOut(
        contact_id=contact.id, email=contact.email, phone=contact.phone,
        merged_contact_id=linked.merged_contact_id, moved_inquiries=linked.moved_inquiries,
    )  # fmt: skip


# -- links the service suggests (ingest/inquiries/link_suggestions.py) --------------------------


class LinkSuggestionOut(BaseModel):
    id: int
    reason: Literal["phone_in_text", "same_name"] = Field(
        description="the number was in an e-mail of the address, or both clients have the same name"
    )
    state: Literal["open", "accepted", "dismissed"]
    email: str
    email_name: str | None
    phone: str
    phone_name: str | None
    whatsapp: bool = Field(description="the number's client wrote on WhatsApp")
    message_id: int | None = Field(description="the message that showed it")
    created_at: datetime


SuggestionId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/link-suggestions", response_model=list[LinkSuggestionOut], summary="Links the service suggests")
def link_suggestions(principal: Caller, ctx: Context) -> list[LinkSuggestionOut]:
    require_roles(principal, *INQUIRY_ROLES, what="see suggested links")
    with transaction(ctx.sessions) as session:
        shown = suggestions.open_suggestions(session, principal)
        # Clients' addresses, numbers and names: a read of personal data, logged with the ids.
        audit.record(session, principal=principal, action="contact.link_suggestions", now=ctx.clock(),
                     detail={"suggestion_ids": [s.suggestion.id for s in shown]})  # fmt: skip
        return [suggestion_out(s) for s in shown]


@contextmanager
def _not_found_when_gone() -> Iterator[None]:
    """A suggestion unknown, decided already or about a client the caller may not see: 404 alike."""
    try:
        yield
    except SuggestionGone as exc:
        raise ApiError(404, "not_found", str(exc)) from None


@router.post("/link-suggestions/{suggestion_id}/accept", response_model=ContactLinkOut,
             summary="Link the suggested address and number")  # fmt: skip
def accept_suggestion(principal: Caller, ctx: Context, suggestion_id: SuggestionId) -> ContactLinkOut:
    require_roles(principal, *INQUIRY_ROLES, what="link a client's address and number")
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        with _not_found_when_gone():
            linked = suggestions.accept(session, suggestion_id=suggestion_id, principal=principal, now=now)
        return _linked(session, principal, linked, now, suggestion_id=suggestion_id)


@router.post("/link-suggestions/{suggestion_id}/dismiss", response_model=LinkSuggestionOut,
             summary="Do not suggest this link again")  # fmt: skip
def dismiss_suggestion(principal: Caller, ctx: Context, suggestion_id: SuggestionId) -> LinkSuggestionOut:
    require_roles(principal, *INQUIRY_ROLES, what="dismiss a suggested link")
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        with _not_found_when_gone():
            shown = suggestions.dismiss(session, suggestion_id=suggestion_id, principal=principal, now=now)
        audit.record(session, principal=principal, action="contact.link_dismiss", now=now, detail={
            "suggestion_id": suggestion_id, "email_contact_id": shown.email_contact.id,
            "phone_contact_id": shown.phone_contact.id,
        })  # fmt: skip
        return suggestion_out(shown)


def suggestion_out(shown: Shown) -> LinkSuggestionOut:
    row, by_email, by_phone = shown.suggestion, shown.email_contact, shown.phone_contact
    assert row.id is not None and by_email.email is not None and by_phone.phone is not None
    return LinkSuggestionOut(
        id=row.id, reason=row.reason, state=row.state, email=by_email.email, email_name=by_email.name,  # type: ignore[arg-type]
        phone=by_phone.phone, phone_name=by_phone.name, whatsapp=by_phone.whatsapp_id is not None,
        message_id=row.message_id, created_at=row.created_at,
    )  # fmt: skip
