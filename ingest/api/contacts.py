"""``POST /api/v1/contacts/links``: staff link an e-mail address and a phone number to one client
(ingest/inquiries/contact_links.py); audited as ``contact.link`` with ids only."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at import time.

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ingest.api.auth import INQUIRY_ROLES, Caller, Context, require_roles
from ingest.api.errors import ERROR_RESPONSES, ApiError
from ingest.inquiries import audit
from ingest.inquiries.contact_links import LinkError, link_contact
from storage.db import transaction

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
        contact = linked.contact
        assert contact.id is not None and contact.email is not None and contact.phone is not None
        audit.record(session, principal=principal, action="contact.link", now=now, detail={
            "contact_id": contact.id, "merged_contact_id": linked.merged_contact_id,
            "moved_inquiries": linked.moved_inquiries,
        })  # fmt: skip
        return ContactLinkOut(
            contact_id=contact.id, email=contact.email, phone=contact.phone,
            merged_contact_id=linked.merged_contact_id, moved_inquiries=linked.moved_inquiries,
        )  # fmt: skip
