"""The e-mails to staff besides the notification (reminders, escalations, the morning digest, "call
the client", "not sent on"): in the employee's language, with each language's plural forms and
dates as the office writes them (issue 12, "Languages")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ingest.i18n import load_catalogs
from ingest.outgoing.staff_texts import call_client_notice, deadline_notice, digest_notice, not_relayed_notice
from storage.models import Contact, Employee, Inquiry

CATALOGS = load_catalogs()
RIGA = ZoneInfo("Europe/Riga")
NOW = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
JANIS = Employee(key="atkritumi-1", name="Jānis", surname="Kalniņš", position="Speciālists", email="j@example.lv")


def inquiries(count: int) -> list[Inquiry]:
    return [
        Inquiry(
            reference=f"GK-2026-{n:06d}",
            token="t",
            contact_id=1,
            channel="email",
            subject=f"Temats {n}",
            received_at=NOW - timedelta(days=1),
            due_at=NOW + timedelta(hours=7 if n else -2),
        )  # fmt: skip
        for n in range(count)
    ]


@pytest.mark.parametrize(
    ("count", "latvian", "russian"),
    [
        (1, "Šodienas termiņi: 1 pieprasījums", "Сроки сегодня: 1 обращение"),
        (2, "Šodienas termiņi: 2 pieprasījumi", "Сроки сегодня: 2 обращения"),
        (5, "Šodienas termiņi: 5 pieprasījumi", "Сроки сегодня: 5 обращений"),
        (11, "Šodienas termiņi: 11 pieprasījumu", "Сроки сегодня: 11 обращений"),
        (21, "Šodienas termiņi: 21 pieprasījums", "Сроки сегодня: 21 обращение"),
    ],
)
def test_the_digest_agrees_with_its_number_in_both_languages(count: int, latvian: str, russian: str) -> None:
    lv = digest_notice(inquiries(count), day=date(2026, 3, 11), now=NOW, tz=RIGA, translations=CATALOGS.get("lv"))
    ru = digest_notice(inquiries(count), day=date(2026, 3, 11), now=NOW, tz=RIGA, translations=CATALOGS.get("ru"))
    assert (lv.subject, ru.subject) == (latvian, russian)
    assert lv.text.startswith(f"Šodien (11.03.2026) jāatbild uz {count} pieprasījum"), "the day as dd.mm.yyyy"
    assert "- GK-2026-000000  līdz 11.03.2026 08:00 (NOKAVĒTS)  Temats 0" in lv.text
    assert "- GK-2026-000000  до 11.03.2026 08:00 (ПРОСРОЧЕНО)  Temats 0" in ru.text


def test_a_reminder_and_an_escalation_in_the_readers_language() -> None:
    (inquiry,) = inquiries(2)[1:]
    contact = Contact(name="Anna Liepa", email="anna@client.example")
    lv = deadline_notice("due_day", inquiry=inquiry, responsible=JANIS, contact=contact,
                         topic_name="Atkritumu izvešana", tz=RIGA, translations=CATALOGS.get("lv"))  # fmt: skip
    assert lv.subject == "[GK-2026-000001] Šodien termiņš: atbildēt līdz 11.03.2026 17:00"
    assert lv.text.startswith("Šodien beidzas atbildes termiņš.\n\nNumurs:") and "Jānis Kalniņš" in lv.text
    ru = deadline_notice("overdue", inquiry=inquiry, responsible=None, contact=None, topic_name=None, tz=RIGA,
                         translations=CATALOGS.get("ru"))  # fmt: skip
    assert ru.subject == "[GK-2026-000001] Срок пропущен: ответить до 11.03.2026 17:00"
    assert "руководитель" in ru.text and "не назначен" in ru.text and "Numurs" not in ru.text


def test_call_the_client_and_not_sent_on() -> None:
    lv = call_client_notice("GK-2026-000007", CATALOGS.get("lv"))
    assert lv.subject == "[GK-2026-000007] Klientam jāpiezvana" and "pierakstiet sarunu" in lv.text
    ru = not_relayed_notice("GK-2026-000007", JANIS, CATALOGS.get("ru"))
    assert ru.subject == "[GK-2026-000007] Ответ не был отправлен клиенту"
    assert "(Jānis Kalniņš)" in ru.text and "внутренняя заметка" in ru.text
    nobody = not_relayed_notice("GK-2026-000007", None, CATALOGS.get("lv"))
    assert "pieprasījumam nav atbildīgā darbinieka" in nobody.text
