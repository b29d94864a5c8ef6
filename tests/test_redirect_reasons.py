"""Why an inquiry went to another specialist, told to the client in their language (issue 13: the
client never reads a language they did not write in; policy 10.3)."""

from __future__ import annotations

from typing import get_args

from ingest.api.schemas import ReassignIn
from ingest.outgoing.notices import ClientTemplates
from ingest.outgoing.redirect_reasons import REDIRECT_REASONS, reason_for_client
from storage.models import Employee

OLGA = Employee(key="o", name="Olga", surname="Petrova", position="speciāliste", email="o@example.lv")


def test_every_reason_has_every_language_and_the_api_offers_exactly_these() -> None:
    assert all(set(texts) == {"lv", "ru", "en"} for texts in REDIRECT_REASONS.values())
    (codes,) = [get_args(a) for a in get_args(ReassignIn.model_fields["reason_code"].annotation) if get_args(a)]
    assert set(codes) == set(REDIRECT_REASONS)


def test_a_chosen_reason_reaches_a_russian_client_in_russian_and_a_written_one_as_written() -> None:
    said = reason_for_client("absence", "Kalniņam izbraukums", "ru")
    assert said == "прежний специалист отсутствует"
    letter = ClientTemplates().render("redirect", "ru", reference="GK-2026-000003", client_name="", employee=OLGA,
                                      due="12.03.2026 17:00", office="Birojs", reason=said, kind="request",
                                      channel="email")  # fmt: skip
    assert "(прежний специалист отсутствует)" in letter.text and "Kalniņam" not in letter.text
    assert reason_for_client(None, "Cita joma", "ru") == "Cita joma", "written by hand: sent as written"
    assert reason_for_client("sooner", "", "de") == "lai jūs saņemtu atbildi ātrāk", "unknown language: Latvian"
