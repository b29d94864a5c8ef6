"""The inquiry page's words (issue 12, item 2): why the router chose the employee, what is left of
the working time, whether the client's last message is only a thank-you, and the timeline as the
client saw it. Rendered through the real catalogs, without a service."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ingest.api.schemas import EventOut, InquiryDetail, MessageOut
from ingest.config import load_config
from ingest.dashboard.conversation import Sent, timeline
from ingest.dashboard.explanation import Line, routing_lines, time_left
from ingest.i18n import load_catalogs
from ingest.inquiries.thanks import looks_like_thanks
from ingest.routing import router_from_settings
from router.calendar import WorkingCalendar
from router.route import Load, Situation
from storage.models import Event, Inquiry
from tests.support import ROOT

RIGA = ZoneInfo("Europe/Riga")
CATALOGS = load_catalogs()


def said(line: Line, language: str) -> str:
    catalog = CATALOGS.get(language)
    return catalog.gettext(line.text) % line.values if line.values else catalog.gettext(line.text)


def riga(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=RIGA).astimezone(UTC)


def test_the_routing_in_latvian_words_with_names_not_keys() -> None:
    settings = load_config(ROOT / "config.example.toml", env={})
    router = router_from_settings(settings)
    # Friday afternoon before a weekend: two working days skip Saturday and Sunday.
    decision = router.decide(
        subject="Konteineri",
        text="Labdien! Kāpēc netika iztukšoti konteineri pie mājas? Pielikumā divi foto.",
        received_at=riga("2026-03-13 15:00"),
        situation=Situation(absent=frozenset({"atkritumi-2"}), load={"atkritumi-1": Load(open=3)}),
        attachments=2,
    )
    event = Event(inquiry_id=1, at=riga("2026-03-13 15:00"), type="routed",
                  data={"rule": decision.rule, "employee": decision.employee_key, "facts": decision.facts})  # fmt: skip
    names = {e.key: f"{e.name} {e.surname}" for e in settings.employees}
    lines = routing_lines(
        [event],
        names=lambda keys: ", ".join(names.get(k, k) for k in keys),
        topic_names={t.key: t.name for t in settings.topics},
        day=lambda d: d.strftime("%d.%m.%Y"),
    )
    text = "\n".join(said(line, "lv") for line in lines)
    assert "Atkritumu izvešana" in text and "konteiner" in text.lower()
    assert "Olga" in text and "atkritumi-2" not in text, "the absent colleague by name, not by key"
    assert "14.03.2026" in text and "15.03.2026" in text, "the weekend days not counted"
    assert "%(" not in text and "Topic" not in text, text
    russian = "\n".join(said(line, "ru") for line in lines)
    assert "Atkritumu izvešana" in russian and "%(" not in russian


def test_an_inquiry_never_routed_has_no_explanation() -> None:
    assert routing_lines([], names=", ".join, topic_names={}, day=str) == []


def inquiry(status: str, due: str | None) -> Inquiry:
    return Inquiry(reference="GK-1", token="t", contact_id=1, channel="email", status=status,
                   received_at=riga("2026-03-10 09:00"), due_at=riga(due) if due else None)  # fmt: skip


def test_the_working_time_left_and_late_skips_nights_and_weekends() -> None:
    calendar = WorkingCalendar(tz=RIGA)
    # Due Monday 17:00; on Friday 16:00 one hour of Friday and nine of Monday are left.
    left = time_left(inquiry("open", "2026-03-16 17:00"), calendar, riga("2026-03-13 16:00"))
    assert left is not None and left.values == {"hours": "10", "minutes": "00"}
    assert said(left, "lv").startswith("Atlikušais darba laiks: 10")
    late = time_left(inquiry("open", "2026-03-13 16:30"), calendar, riga("2026-03-16 08:45"))
    # Half an hour of Friday and 45 minutes of Monday morning: the weekend does not count.
    assert late is not None and late.values == {"hours": "1", "minutes": "15"}
    assert time_left(inquiry("answered", "2026-03-16 17:00"), calendar, riga("2026-03-13 16:00")) is None
    waiting = time_left(inquiry("waiting_client", "2026-03-16 17:00"), calendar, riga("2026-03-13 16:00"))
    assert waiting is not None and not waiting.values


@pytest.mark.parametrize(
    ("text", "thanks"),
    [
        ("Paldies!", True),
        ("Jā, ceturtdiena der. Paldies!", True),
        ("Спасибо большое!", True),
        ("Thank you, that's fine.", True),
        ("Paldies, bet konteiners joprojām nav izvests.", False),
        ("Paldies! Un kad atbrauksiet?", False),
        ("Labi", False),
        ("Paldies par atbildi. " * 12, False),
        ("Paldies!\n\nOn Tue, 10 Mar 2026 at 10:00, Birojs wrote:\n> Labdien! Ilgs teksts ar jautājumu? " * 1, True),
    ],
)
def test_what_counts_as_only_a_thank_you(text: str, thanks: bool) -> None:
    assert looks_like_thanks(text) is thanks


def test_the_timeline_shows_what_the_client_received_not_the_staff_reply() -> None:
    at = riga("2026-03-10 09:00")
    client = MessageOut(id=1, direction="in", channel="whatsapp", sender="+37120000000", sender_name="Anna",
                        subject=None, text="Kad izvedīs?", received_at=at, attachments=[])  # fmt: skip
    staff_reply = MessageOut(id=2, direction="out", channel="email", sender="j@office.example", sender_name="Jānis",
                             subject="Re: [GK-1] Jauns klienta pieprasījums", text="Rīt.",
                             received_at=at + timedelta(hours=1), attachments=[])  # fmt: skip
    events = [
        EventOut(id=10, at=at + timedelta(hours=1), type="client_answer_queued", actor="system",
                 actor_kind="system", data={"outbox_id": 7}),
        EventOut(id=11, at=at + timedelta(hours=1), type="answered", actor="atkritumi-1",
                 actor_kind="employee", data={"message_id": 2, "outbox_id": 7}),
    ]  # fmt: skip
    shown = InquiryDetail.model_construct(messages=[client, staff_reply], events=events)
    sent = [Sent(id=7, kind="client_answer", channel="whatsapp", recipient="+37120000000", subject=None,
                 text="Rīt.\n\nJānis Ozols, speciālists", status="sent", at=at + timedelta(hours=1))]  # fmt: skip
    entries = timeline(shown, sent)
    assert [(e.kind, e.id) for e in entries] == [("message", 1), ("sent", 7), ("event", 11)]
    assert date(2026, 3, 10) == entries[1].at.astimezone(RIGA).date()
