"""Every client message in every language, compared with texts read and approved by a person
(issue 13): tests/data/texts/client-messages.LANG.txt. After changing a template, regenerate with
``GK_WRITE_GOLDEN=1`` and read the whole diff as a client would before committing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.outgoing.notices import ClientTemplates
from storage.models import Employee

GOLDEN = Path(__file__).parent / "data" / "texts"
NAMES = ("ack", "redirect", "written_form", "answer")
VARIANTS = (("request", "email"), ("complaint", "email"), ("suggestion", "whatsapp"), ("request", "phone"))
# What the configuration gives each language (config.example.toml): the texts of the client's language.
LOCAL = {
    "lv": ("Atkritumu apsaimniekošanas speciālists", "2. stāvs, 203. kabinets, Brīvības iela 1, Rīga",
           "P., T. 9:00–12:00", "Klientu apkalpošanas koordinatore", "Klientu apkalpošana",
           "jautājums attiecas uz citu jomu", "Konteineru iztukšosim ceturtdien."),
    "ru": ("Специалист по обращению с отходами", "2-й этаж, кабинет 203, ул. Бривибас 1, Рига", "Пн., Ср. 9:00–12:00",
           "Координатор обслуживания клиентов", "Обслуживание клиентов", "вопрос относится к другой области",
           "Контейнер опорожним в четверг."),
    "en": ("Waste management specialist", "2nd floor, room 203, Brīvības iela 1, Riga", "Mon, Wed 9:00–12:00",
           "Customer service coordinator", "Customer service", "the question concerns another field",
           "We will empty the container on Thursday."),
}  # fmt: skip
WRITTEN = {"email": "klienti@example.lv", "postal_address": "Brīvības iela 1, Rīga",
           "visiting_address": "Brīvības iela 1, Rīga", "visiting_hours": "8:00–17:00"}  # fmt: skip


def people(language: str) -> tuple[Employee, Employee]:
    """A man for the letters, a woman for the texts: nothing may depend on the employee's gender."""
    position, location, hours, coordinator, _office, _reason, _text = LOCAL[language]
    janis = Employee(key="atkritumi-1", name="Jānis", surname="Kalniņš", position=position, email="j@example.lv",
                     phone="+37167000111", location=location, reception_hours=hours)  # fmt: skip
    ilze = Employee(key="koordinatore", name="Ilze", surname="Bērziņa", position=coordinator, email="i@example.lv",
                    phone="+37167000100", location=location, reception_hours=hours)  # fmt: skip
    return janis, ilze


def rendered(language: str) -> str:
    templates, parts = ClientTemplates(), []
    janis, ilze = people(language)
    _p, _l, _h, _c, office, reason, answer = LOCAL[language]
    for name in NAMES:
        for form, employee in ((name, janis), (f"{name}_short", ilze)):
            for kind, channel in VARIANTS if name == "ack" else VARIANTS[:1]:
                # A redirect of an overdue inquiry gives a new answer date (issue 16, item 5).
                for moved in (False, True) if name == "redirect" else (False,):
                    r = templates.render(form, language, reference="GK-2026-000123", client_name="Anna Liepa",
                                         employee=employee, due="12.03.2026 17:00", office=office, reason=reason,
                                         written=WRITTEN, text=answer, kind=kind, channel=channel,
                                         due_moved=moved)  # fmt: skip
                    label = f"{kind}, {channel}, due moved" if moved else f"{kind}, {channel}"
                    parts.append(f"=== {form} ({label})\n{r.subject}\n---\n{r.text.strip()}\n")
    return "\n".join(parts)


@pytest.mark.parametrize("language", ["lv", "ru", "en"])
def test_every_client_message_reads_as_approved(language: str) -> None:
    golden = GOLDEN / f"client-messages.{language}.txt"
    text = rendered(language)
    if os.environ.get("GK_WRITE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
