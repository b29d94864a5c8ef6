"""Configuration sections of the office: working time, employees, topics, kinds, absences, deadlines, routing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from ingest.config.fields import EmailAddress, Localized, Section

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _check_hours(value: str) -> str:
    from router.calendar import Hours

    try:
        Hours.parse(value)
    except ValueError as exc:
        raise ValueError(f'{value!r} is not a span like "08:00-17:00" ({exc})') from None
    return value


HoursText = Annotated[str, AfterValidator(_check_hours)]


class WorkingTimeSettings(Section):
    # Opening hours per weekday, "HH:MM-HH:MM"; a weekday not listed is not worked.
    hours: dict[str, HoursText] = Field(default_factory=lambda: {d: "08:00-17:00" for d in WEEKDAYS[:5]})
    # Hours on a Saturday worked in exchange for a day off moved by the Cabinet.
    transferred_workday_hours: HoursText = "08:00-17:00"
    # The working day before a public holiday is shorter (Labour Law, section 134).
    pre_holiday_shortening_minutes: int = Field(default=60, ge=0, le=480)
    simple_working_days: int = Field(default=1, ge=1)
    complex_working_days: int = Field(default=2, ge=1)

    @field_validator("hours")
    @classmethod
    def _weekday_names(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}")
        if not value:
            raise ValueError("at least one weekday must be worked")
        return value


class EmployeeSettings(Section):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    name: str
    surname: str
    # Position, location and reception hours are what clients read (policy 8, 10.3): one text, or one
    # per language (`position = {lv = "…", ru = "…", en = "…"}`); a missing language gets the Latvian.
    position: Localized
    email: EmailAddress
    phone: str | None = None
    location: Localized | None = None
    reception_hours: Localized | None = None
    languages: list[str] = Field(default_factory=lambda: ["lv"])
    # The language they work in (not the ones they speak with clients, above): the workspace
    # opens in it after they log in, and the e-mails the service writes to them use it.
    language: Literal["lv", "ru", "en"] = "lv"
    supervisor: str | None = None
    deputy: str | None = None
    active: bool = True
    # What the staff API allows: "employee" (the inquiries they handle), "supervisor" (all but
    # complaints), "board" (everything), "admin" (tokens and absences, no inquiry content). The
    # routing.board_member is "board" whatever this says.
    role: Literal["employee", "supervisor", "board", "admin"] = "employee"


class TopicSettings(Section):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    name: str
    keywords: list[str] = Field(min_length=1)
    employees: list[str] = Field(min_length=1)
    complexity: Literal["simple", "complex"] = "simple"
    # "service": the service a message concerns (waste, heating...); "matter": what it is about
    # whatever the service (billing): with enough evidence it wins over the service (router/topics.py).
    role: Literal["service", "matter"] = "service"


class KindSettings(Section):
    """Keywords that make an inquiry a complaint, a suggestion, a request or a question.

    Tried in that order; with no keyword, a message with a question mark is a
    question and anything else a request.
    """

    complaint: list[str] = Field(default_factory=list)
    suggestion: list[str] = Field(default_factory=list)
    request: list[str] = Field(default_factory=list)
    question: list[str] = Field(default_factory=list)


class ComplexitySettings(Section):
    """Signals that make an inquiry complex (2 working days) besides its topic's default."""

    long_text_chars: int = Field(default=1500, ge=1)
    attachments_make_complex: bool = True
    several_topics_make_complex: bool = True


class AbsenceSettings(Section):
    employee: str
    start: date
    end: date
    reason: Literal["leave", "sick", "training", "other"] = "leave"

    @model_validator(mode="after")
    def _order(self) -> AbsenceSettings:
        if self.end < self.start:
            raise ValueError("end comes before start")
        return self


class DeadlineSettings(Section):
    # A reminder to the employee when this share of the working time to the due date is left
    # (0 turns it off); another when the due day opens.
    reminder_share_left: float = Field(default=0.25, ge=0, lt=1)
    # When the deadline passes, the employee's supervisor is told; after this many further working
    # hours, the board member.
    board_after_working_hours: float = Field(default=8, gt=0)
    # A reassigned overdue inquiry is due again at the end of this many working days from the
    # reassignment: the client is told that date, never the one that passed.
    reassigned_overdue_working_days: int = Field(default=1, ge=1, le=10)
    # How often the deadlines are checked.
    sweep_seconds: float = Field(default=60, gt=0)


class ClientMessageSettings(Section):
    # Send the client an acknowledgement naming the employee and the answer date (clauses 8, 9).
    acknowledge: bool = True
    # At most one acknowledgement per address within this many minutes, so that two
    # auto-responders cannot keep each other busy ...
    ack_window_minutes: int = Field(default=15, ge=0)
    # ... but only while the sender is in a burst (this many messages or more within a minute):
    # a loop. Otherwise every new inquiry gets its own acknowledgement with its own reference.
    ack_burst_per_minute: int = Field(default=5, ge=1)
    # A folder with edited copies of the templates in ingest/outgoing/templates; looked in first.
    templates_dir: Path | None = None
    # The reply templates (canned answers) offered in the dashboard's answer form, one file per
    # template and language (ingest/outgoing/reply_templates.py); by default ingest/outgoing/replies.
    reply_templates_dir: Path | None = None


class ThreadingSettings(Section):
    """When a client's next message joins their open inquiry, whatever channel it comes on."""

    # Working hours on the office calendar since the inquiry's last activity (8: one working day),
    # so that a Friday-evening SMS still joins Thursday's WhatsApp inquiry on Monday morning.
    cross_channel_hours: float = Field(default=8, ge=0, le=24 * 30)


class InteractionSettings(Section):
    """When a logged phone call or visit (the staff API, the dashboard) may have taken place."""

    # No older than this many days: a call back-dated by years would be born overdue and escalate.
    max_age_days: int = Field(default=30, ge=1, le=3650)
    # A time ahead of the server's clock by up to this many minutes is taken (clocks differ).
    future_skew_minutes: int = Field(default=5, ge=0, le=1440)


class RoutingSettings(Section):
    # The customer-service coordinator: gets whatever matches no topic.
    fallback_employee: str
    board_member: str | None = None
