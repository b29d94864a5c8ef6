"""The client's acknowledgement says what happened to them, in their language (issue 13, part): a
missed call is promised a call back by the due time, a complaint is acknowledged as a complaint, a
suggestion is thanked; Latvian greets without a name (the vocative it would need), and who handles
the inquiry is said without grammatical gender. Compared with texts reviewed by hand."""

from __future__ import annotations

import pytest

from ingest.outgoing.notices import ClientTemplates
from storage.models import Employee

ILZE = Employee(key="k", name="Ilze", surname="Bērziņa", position="koordinatore", email="i@example.lv")
VALUES = {"reference": "GK-2026-000009", "client_name": "Jānis Bērziņš", "employee": ILZE,
          "due": "12.03.2026 17:00", "office": "Klientu apkalpošana"}  # fmt: skip


def ack(name: str, language: str, kind: str, channel: str) -> str:
    rendered = ClientTemplates().render(name, language, kind=kind, channel=channel, **VALUES)
    return f"{rendered.subject}\n{rendered.text}"


@pytest.mark.parametrize(
    ("language", "kind", "channel", "expected"),
    [
        ("lv", "request", "phone",
         "Pieprasījums GK-2026-000009 saņemts\nLabdien! Jūs mums zvanījāt, bet neviens nevarēja atbildēt. Atzvanīsim "
         "līdz 12.03.2026 17:00 (GK-2026-000009): Ilze Bērziņa, koordinatore. Klientu apkalpošana"),
        ("lv", "complaint", "whatsapp",
         "Pieprasījums GK-2026-000009 saņemts\nLabdien! Jūsu sūdzība saņemta (GK-2026-000009). Sūdzību izskata Ilze "
         "Bērziņa, koordinatore. Atbildēsim līdz 12.03.2026 17:00. Klientu apkalpošana"),
        ("ru", "suggestion", "sms",
         "Обращение GK-2026-000009 получено\nЗдравствуйте! Спасибо за предложение (GK-2026-000009)! Обращением "
         "занимается Ilze Bērziņa, koordinatore. Ответим до 12.03.2026 17:00. Klientu apkalpošana"),
        ("en", "question", "sms",
         "Inquiry GK-2026-000009 received\nHello! Your inquiry has been received (GK-2026-000009). Handled by Ilze "
         "Bērziņa, koordinatore. Answer by 12.03.2026 17:00. Klientu apkalpošana"),
    ],
)  # fmt: skip
def test_the_text_message_acknowledgement(language: str, kind: str, channel: str, expected: str) -> None:
    assert ack("ack_short", language, kind, channel).strip() == expected


def test_the_letters_for_a_missed_call_a_complaint_and_a_question() -> None:
    call = ack("ack", "lv", "request", "phone")
    assert call.startswith("Jūs mums zvanījāt: mēs atzvanīsim\nLabdien!\n\n")
    assert "mēs jums atzvanīsim līdz 12.03.2026 17:00" in call and "Jums atzvanīs: Ilze Bērziņa" in call
    complaint = ack("ack", "lv", "complaint", "email")
    assert complaint.startswith("Jūsu sūdzība saņemta\n") and "Jūsu sūdzību izskata: Ilze Bērziņa" in complaint
    question = ack("ack", "ru", "question", "email")
    assert "Здравствуйте, Jānis Bērziņš!" in question and "Вашим обращением занимается Ilze" in question
    for text in (call, complaint, ack("ack", "lv", "question", "email")):
        assert "Jānis" not in text, "no Latvian greeting with a name in the nominative"
        assert "Atbildīg" not in text, "no word that needs the employee's gender"
