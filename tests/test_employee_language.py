"""Each employee's own language (issue 12, "Languages"): the workspace opens in it after they log
in, and the notification e-mail is written in it; Latvian unless the configuration says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest.i18n import load_catalogs
from ingest.outgoing.staff_mail import staff_notice
from storage.models import Contact, Inquiry, Message
from tests.dashboard_helpers import NOW, PASSWORD, Clock, give_passwords, login
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service

CATALOGS = load_catalogs()
RIGA = ZoneInfo("Europe/Riga")


def notice(language: str, **changes: Any) -> tuple[str, str]:
    at = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    inquiry = Inquiry(reference="GK-2026-000007", token="t", contact_id=1, channel="whatsapp", complexity="complex",
                      received_at=at, due_at=datetime(2026, 3, 12, 15, 0, tzinfo=UTC))  # fmt: skip
    contact = Contact(name="Anna Liepa", phone="+37120000000")
    message = Message(inquiry_id=1, direction="in", channel="whatsapp", external_id="x", text="Kad izvedīs?",
                      received_at=at)  # fmt: skip
    for key, value in changes.items():
        setattr(message if key in ("subject", "text") else inquiry, key, value)
    got = staff_notice(inquiry=inquiry, contact=contact, message=message, topic_name="Atkritumu izvešana", tz=RIGA,
                       follow_up=False, translations=CATALOGS.get(language),
                       named=["Jānis Kalniņš"] if inquiry.kind == "complaint" else None)  # fmt: skip
    return got.subject, got.text


def test_the_notification_in_latvian_reads_as_before_and_in_russian_for_a_russian_speaker() -> None:
    subject, text = notice("lv")
    assert subject == "[GK-2026-000007] Jautājums: Kad izvedīs? — atbildēt līdz 12.03.2026 17:00"
    assert text.startswith("Jauns klienta pieprasījums: jautājums.\n")
    # The values line up after the longest label ("Vēstules temats:", 16 characters).
    assert "\nNumurs:          GK-2026-000007\n" in text and "\nVēstules temats: —\n" in text
    assert "\nKanāls:          WhatsApp\n" in text and "sarežģīts (2 darba dienas)" in text
    assert "#piezīme" in text and "#slēgt" in text
    subject, text = notice("ru")
    assert subject == "[GK-2026-000007] Вопрос: Kad izvedīs? — ответить до 12.03.2026 17:00"
    assert "Номер:" in text and "сложное (2 рабочих дня)" in text and "#заметка" in text and "#закрыть" in text
    assert "Jauns" not in text and "Klienta" not in text, "no Latvian left in the Russian notification"
    assert notice("en")[0].startswith("[GK-2026-000007] Question: Kad izvedīs?")


def test_the_subject_says_the_kind_and_the_clients_words_and_a_complaint_is_marked() -> None:
    long = "Atkritumu konteiners pie mājas Brīvības ielā 12 jau trešo nedēļu nav iztukšots un smird visā pagalmā"
    subject, text = notice("lv", kind="complaint", subject=long)
    assert subject == (
        "[GK-2026-000007] Sūdzība: Atkritumu konteiners pie mājas Brīvības ielā 12 jau trešo nedēļu nav… "
        "— atbildēt līdz 12.03.2026 17:00"
    ), "cut at a word, with an ellipsis"
    assert "Šī ir sūdzība" in text and "Tajā minēts: Jānis Kalniņš." in text
    subject, text = notice("ru", kind="suggestion", subject="Идея")
    assert subject.startswith("[GK-2026-000007] Предложение: Идея — ") and "поблагодарите клиента" in text


@pytest.mark.slow  # a running service
def test_the_workspace_opens_in_the_employees_language(make_settings: Any) -> None:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "atkritumi-2", "atkritumi-1")
        base = f"http://127.0.0.1:{service.http_port}"
        olga, _ = login(base, "atkritumi-2", PASSWORD)  # language = "ru" in config.example.toml
        assert '<html lang="ru">' in olga.get("/dashboard/inquiries").text
        olga.get("/dashboard/language/lv")
        assert '<html lang="lv">' in olga.get("/dashboard/inquiries").text, "the switch still works"
        janis, _ = login(base, "atkritumi-1", PASSWORD)  # no language configured: Latvian
        assert '<html lang="lv">' in janis.get("/dashboard/inquiries").text
