"""The staff API's request and response bodies, so the OpenAPI document says what is sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingest.inquiries.search import FIRST_DAY, LAST_DAY
from storage.staff_models import Role

MAX_TEXT = 20_000
# Row ids are 32-bit integers on both databases; a larger one in a path is a 422, not a crash.
MAX_ID = 2_147_483_647
# Keys of employees, topics, channels and kinds, and public references: nothing else is asked for.
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
# Every day asked for or sent lies in FIRST_DAY..LAST_DAY (ingest/inquiries/search.py).
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store NUL characters in text; a broken client must not cause a 500.
        return value.replace("\x00", "") if isinstance(value, str) else value


# -- who --------------------------------------------------------------------------------------


class Me(BaseModel):
    key: str
    name: str
    surname: str
    position: str
    email: str
    role: Role
    token_id: int


# -- inquiries --------------------------------------------------------------------------------


class ContactOut(BaseModel):
    id: int
    kind: str
    name: str | None
    email: str | None
    phone: str | None
    whatsapp_id: str | None
    preferred_language: str | None


class InquirySummary(BaseModel):
    reference: str
    channel: str
    kind: str
    topic: str | None
    complexity: str
    language: str | None
    subject: str | None
    status: str
    employee: str | None = Field(description="the responsible employee's key")
    received_at: datetime
    due_at: datetime | None
    first_response_at: datetime | None
    answered_at: datetime | None
    clock_paused_at: datetime | None
    overdue: bool
    contact: ContactOut
    merged_into: str | None = Field(
        default=None, description="the reference this inquiry was merged into (it is then closed); null: not merged"
    )


class InquiryList(BaseModel):
    items: list[InquirySummary]
    total: int
    limit: int
    offset: int


class AttachmentOut(BaseModel):
    id: int
    filename: str | None
    content_type: str
    size: int
    stored: bool
    omitted_reason: str | None


class MessageOut(BaseModel):
    id: int
    direction: str
    channel: str
    sender: str | None
    sender_name: str | None
    subject: str | None
    text: str
    received_at: datetime
    attachments: list[AttachmentOut]


class EventOut(BaseModel):
    id: int
    at: datetime
    type: str
    actor: str
    # What ``actor`` names: employee (their key), system, cli (a command-line user's name) or sender
    # (an e-mail's From, not proven); only "employee" is an employee's own doing (storage/actors.py).
    actor_kind: str
    data: dict[str, Any]


class InquiryDetail(InquirySummary):
    messages: list[MessageOut]
    events: list[EventOut]


class ReassignIn(_In):
    employee: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    reason: str = Field(default="", max_length=1000)
    # A reason from the list, told to the client in their language (``reason`` is then kept for staff).
    reason_code: Literal["other_field", "specialist", "absence", "sooner"] | None = None


class ComplexityIn(_In):
    complexity: Literal["simple", "complex"]


class WaitingIn(_In):
    waiting: bool


class CloseIn(_In):
    reason: Literal["answered_by_phone", "duplicate", "no_answer_needed", "spam"] = Field(
        description="why it is closed without an answer to the client"
    )


class MergeIn(_In):
    into: str = Field(
        min_length=1, max_length=40, pattern=KEY_PATTERN,
        description="the reference of the same client's inquiry that takes this one's messages",
    )  # fmt: skip


class TextIn(_In):
    text: str = Field(min_length=1, max_length=MAX_TEXT)

    @model_validator(mode="after")
    def _not_blank(self) -> TextIn:
        if not self.text.strip():
            raise ValueError("text: must not be blank")
        return self


class AnswerOut(BaseModel):
    inquiry: InquirySummary
    sent_on: str | None = Field(description="the channel the answer goes out on; null: the employee must call")
    outbox_id: int | None


class NoteOut(BaseModel):
    inquiry: InquirySummary
    message_id: int


# -- phone calls and visits -------------------------------------------------------------------


class InteractionIn(_In):
    channel: Literal["phone", "visit"]
    client_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=320)
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="what the client asked about")
    topic: str | None = Field(default=None, max_length=64, pattern=KEY_PATTERN)
    complexity: Literal["simple", "complex"] = "simple"
    suggested_written: bool = Field(
        default=False, description="policy clause 10.2: the client is sent how to submit the request in writing"
    )
    route: bool = Field(default=False, description="route like a message instead of assigning to the logging employee")
    language: Literal["lv", "ru", "en"] | None = Field(
        default=None, description="the language spoken; default: detected"
    )
    at: datetime | None = Field(default=None, description="when the call or visit was; default: now")
    inquiry: str | None = Field(
        default=None, max_length=40, pattern=KEY_PATTERN,
        description="the inquiry it was about (e.g. a call back): logged on it instead of opening a new one; "
        "a phone call settles its call-back task",
    )  # fmt: skip

    @model_validator(mode="after")
    def _reachable(self) -> InteractionIn:
        if not (self.phone or "").strip() and not (self.email or "").strip() and self.inquiry is None:
            raise ValueError("phone or email: at least one is needed (or the inquiry it was about)")
        if self.email is not None and self.email.strip():
            local, at, domain = self.email.strip().rpartition("@")
            if not at or not local or "." not in domain or any(c.isspace() for c in self.email.strip()):
                raise ValueError("email: not an e-mail address")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at: needs a time zone")
        if not self.text.strip():
            raise ValueError("text: must not be blank")
        return self


class InteractionOut(BaseModel):
    inquiry: InquirySummary
    written_form_sent_on: str | None = Field(description="the channel the written-form message goes out on")
    call_back_done: bool = Field(
        default=False, description="logged on an inquiry with a call back owed: done, its reminder cancelled"
    )


# -- absences ---------------------------------------------------------------------------------


class AbsenceIn(_In):
    employee: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    starts_on: Day
    ends_on: Day
    reason: Literal["leave", "sick", "training", "other"] = "leave"

    @model_validator(mode="after")
    def _order(self) -> AbsenceIn:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on comes before starts_on")
        return self


class AbsenceOut(BaseModel):
    id: int
    employee: str
    starts_on: date
    ends_on: date
    reason: str
    source: str


# -- tokens (admin) ---------------------------------------------------------------------------


class TokenIn(_In):
    employee: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    name: str = Field(default="", max_length=200)


class TokenOut(BaseModel):
    id: int
    employee: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    secret: str = Field(description="shown once; only its hash is stored")
