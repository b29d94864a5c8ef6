"""The first router: topics by keyword, the least-loaded competent employee, weekend-aware due dates."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from ingest.build_router import router_from_settings
from ingest.config import load_config
from router.topics import fold, match_topic
from tests.conftest import ROOT

RIGA = ZoneInfo("Europe/Riga")


@pytest.fixture(scope="module")
def router():  # type: ignore[no-untyped-def]
    return router_from_settings(load_config(ROOT / "config.example.toml", env={}))


def test_fold_strips_diacritics_and_case() -> None:
    assert fold("Ūdens ATKRITUMI šķirošana") == "udens atkritumi skirosana"
    assert fold("Гололёд") == "гололед"


@pytest.mark.parametrize(
    ("subject", "text", "topic"),
    [
        ("Atkritumu konteiners", "", "atkritumi"),
        ("", "netiek izvesti atkritumi", "atkritumi"),
        ("", "netiek izvesti atkritumi ne sķirotie", "atkritumi"),
        ("", "Nav karsta udens jau divas dienas", "siltums"),  # typed without diacritics
        ("Отопление", "В квартире холодно", "siltums"),
        ("", "The street was not cleared of snow", "celi"),
        ("", "Uz ielas liela bedre", "celi"),
        ("", "Lifts nestrādā", "nami"),
        ("", "Вопрос по счёту за октябрь", "rekini"),
        ("", "Wrong invoice amount", "rekini"),
        ("Sveiki", "Kāds ir jūsu darba laiks?", None),
    ],
)
def test_topics_match_keywords_in_three_languages(router, subject: str, text: str, topic: str | None) -> None:  # type: ignore[no-untyped-def]
    match = match_topic(router.topics, subject, text)
    assert (match.topic.key if match else None) == topic


def test_least_loaded_competent_employee_is_chosen(router) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    busy = router.decide(subject="atkritumi", text="", received_at=at, open_counts={"atkritumi-1": 3, "atkritumi-2": 1})
    assert busy.employee_key == "atkritumi-2"
    assert busy.rule == "topic-keyword"
    assert busy.facts["open_inquiries"] == {"atkritumi-1": 3, "atkritumi-2": 1}
    tie = router.decide(subject="atkritumi", text="", received_at=at, open_counts={})
    assert tie.employee_key == "atkritumi-1"
    nothing = router.decide(subject="Labdien", text="Paldies!", received_at=at, open_counts={})
    assert nothing.employee_key == "koordinatore" and nothing.rule == "fallback"
