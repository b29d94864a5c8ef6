"""The other e-mails to staff, in the employee's language (their catalog, ``translations``):
deadline reminders and escalations, the morning digest, "call the client", and "your reply was
not sent on". The notification of a new inquiry is ingest/outgoing/staff_mail.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.support import Translations

from ingest.i18n import N_
from ingest.outgoing.staff_mail import StaffNotice, aligned, local_time, one_line
from storage.models import Contact, Employee, Inquiry

# Alarm kind (router/deadlines.py) -> (subject's headline, the first line).
DEADLINE_TEXTS = {
    "share_left": (N_("Reminder"), N_("The answer is due soon.")),
    "due_day": (N_("Due today"), N_("The time to answer ends today.")),
    # Set instead of all the others when the deadline has passed before it was set
    # (ingest/inquiries/clock.py: settle_past).
    "late": (
        N_("Already late"),
        N_(
            "The time to answer had already passed when the inquiry was registered. Please answer the client as"
            " soon as possible."
        ),
    ),  # fmt: skip
    "overdue": (
        N_("Overdue"),
        N_("The time to answer has passed. You receive this as the responsible employee's supervisor."),
    ),
    "overdue_board": (
        N_("Overdue — to the board"),
        N_("The time to answer has passed, and the supervisor's involvement has not helped."),
    ),
}


def deadline_notice(
    kind: str,
    *,
    inquiry: Inquiry,
    responsible: Employee | None,
    contact: Contact | None,
    topic_name: str | None,
    tz: ZoneInfo,
    translations: Translations,
) -> StaffNotice:
    """A reminder before the due time, or an escalation after it."""
    _ = translations.gettext
    headline, lead = DEADLINE_TEXTS[kind]
    due = local_time(inquiry.due_at, tz) if inquiry.due_at else "—"
    client = (contact.name or contact.email or contact.phone or "—") if contact else "—"
    facts = [
        (_("Reference:"), inquiry.reference),
        (_("Responsible:"), f"{responsible.name} {responsible.surname}" if responsible else _("nobody")),
        (_("Topic:"), topic_name or "—"),
        (_("Client:"), one_line(client)),
        (_("Answer by:"), due),
        (_("Subject:"), one_line(inquiry.subject) or "—"),
    ]
    subject = _("[%(reference)s] %(headline)s: answer by %(due)s") % {
        "reference": inquiry.reference, "headline": _(headline), "due": due,
    }  # fmt: skip
    return StaffNotice(subject=subject, text="\n".join([_(lead), "", *aligned(facts)]) + "\n")


def digest_notice(
    inquiries: Sequence[Inquiry], *, day: date, now: datetime, tz: ZoneInfo, translations: Translations
) -> StaffNotice:
    """The morning list of what the employee must answer today (and what is already late)."""
    count = len(inquiries)
    values = {"num": count, "day": day.strftime("%d.%m.%Y")}
    ngettext = translations.ngettext
    lines = [ngettext("Today (%(day)s) %(num)s inquiry is due:", "Today (%(day)s) %(num)s inquiries are due:", count)
             % values, ""]  # fmt: skip
    overdue = translations.gettext("OVERDUE")
    for inquiry in inquiries:
        due = local_time(inquiry.due_at, tz) if inquiry.due_at else "—"
        late = f" ({overdue})" if inquiry.due_at and inquiry.due_at < now else ""
        by = translations.gettext("by %(due)s") % {"due": due}
        lines.append(f"- {inquiry.reference}  {by}{late}  {one_line(inquiry.subject)}".rstrip())
    subject = ngettext("Due today: %(num)s inquiry", "Due today: %(num)s inquiries", count) % values
    return StaffNotice(subject=subject, text="\n".join(lines) + "\n")


def call_client_notice(reference: str, translations: Translations) -> StaffNotice:
    """Nothing can be written to the client: the employee must call them."""
    _ = translations.gettext
    values = {"reference": reference}
    return StaffNotice(
        subject=_("[%(reference)s] The client must be called") % values,
        text=_(
            "No message can be sent to the client about inquiry %(reference)s (no e-mail, no phone number,"
            " no WhatsApp chat that may be written to). Please contact the client and log the call."
        ) % values + "\n",
    )  # fmt: skip


# Why a reply by e-mail was not sent on (or did not close the inquiry), besides "not the responsible
# employee" (ingest/pipeline/staff_reply.py).
NOT_RELAYED_WHY = {
    "unverified": N_(
        "it could not be verified that it came from you: the office's mail server did not confirm the"
        " sender. Send it from your office mailbox, or write the answer in the dashboard"
    ),
    "not_yours": N_("the notification of this inquiry was not sent to you"),
    "expired": N_(
        "the inquiry was closed more than %(days)s days ago, so its reply address no longer works."
        " Reopen it in the dashboard to write to the client"
    ),
    "erased": N_("the inquiry's data has been erased"),
}


def not_relayed_notice(
    reference: str,
    responsible: Employee | None,
    translations: Translations,
    *,
    reason: str | None = None,
    days: int = 0,
    closing: bool = False,
    kept: bool = True,
) -> StaffNotice:
    """A reply by e-mail that was kept as a note (``kept``) or not kept at all, not sent to the
    client or, with ``closing``, not closing the inquiry; and why (``reason``: a NOT_RELAYED_WHY
    key; None: only the responsible employee answers)."""
    _ = translations.gettext
    if reason is not None:
        why = _(NOT_RELAYED_WHY[reason]) % {"days": days}
    elif responsible is not None:
        why = _("only the responsible employee (%(name)s) answers the client") % {
            "name": f"{responsible.name} {responsible.surname}"
        }
    else:
        why = _("the inquiry has no responsible employee")
    values = {"reference": reference, "why": why}
    if closing:
        subject = _("[%(reference)s] The inquiry was not closed") % values
        lead = _("Your e-mail about inquiry %(reference)s did not close it: %(why)s.") % values
    else:
        subject = _("[%(reference)s] The answer was not sent to the client") % values
        lead = _("Your e-mail about inquiry %(reference)s was not sent to the client: %(why)s.") % values
    tail = _("It is kept with the inquiry as an internal note.") if kept else _("It was not added to the inquiry.")
    return StaffNotice(subject=subject, text=lead + "\n" + tail + "\n")
