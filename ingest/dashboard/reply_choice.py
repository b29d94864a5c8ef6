"""The answer form's reply templates (policy 16) and what it tells the employee about the answer:
the client's language and the signature that is added (policy 8).

Choosing a template is a plain GET of the inquiry's page with ``?template=<key>``: the page comes
back with the answer's text box filled with the rendered template, which the employee edits and
sends (no JavaScript). A key that names no template is ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from jinja2 import TemplateError
from sqlmodel import Session

from ingest.outgoing.notices import client_language
from ingest.outgoing.reply_templates import ReplyTemplate, ReplyTemplates, ReplyValues, Signer
from ingest.outgoing.staff_mail import local_time
from storage.models import Contact, Employee, Inquiry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerForm:
    language: str  # the client's: the closing words of the signature are in it
    signature: str  # "Jānis Kalniņš, Atkritumu apsaimniekošanas speciālists"
    suggested: list[ReplyTemplate] = field(default_factory=list)  # for the topic, in the client's language
    others: list[ReplyTemplate] = field(default_factory=list)
    chosen: str | None = None
    text: str = ""  # what the text box starts with


def answer_form(
    replies: ReplyTemplates, session: Session, inquiry: Inquiry, employee: Employee, chosen: str | None, tz: ZoneInfo
) -> AnswerForm:
    """The form for ``employee`` answering ``inquiry``, prefilled with the template ``chosen`` if it exists."""
    contact = session.get(Contact, inquiry.contact_id)
    language = client_language(inquiry, contact)
    suggested, others = replies.choices(topic=inquiry.topic, language=language)
    signer = Signer(name=employee.name, surname=employee.surname, position=employee.position)
    signature = f"{signer.name} {signer.surname}, {signer.position}"
    template = replies.get(chosen)
    if template is None:
        return AnswerForm(language=language, signature=signature, suggested=suggested, others=others)
    values = ReplyValues(
        client_name=(contact.name or "") if contact is not None else "",
        reference=inquiry.reference,
        due=local_time(inquiry.due_at, tz) if inquiry.due_at else "",
        employee=signer,
    )
    try:
        text = replies.render(template, values)
    except TemplateError as exc:  # checked at start-up with sample values; a real value can still break it
        log.warning("reply template %s could not be rendered for %s: %s", template.file, inquiry.reference, exc)
        return AnswerForm(language=language, signature=signature, suggested=suggested, others=others)
    return AnswerForm(language=language, signature=signature, suggested=suggested, others=others,
                      chosen=template.key, text=text)  # fmt: skip
