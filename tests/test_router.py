"""Understanding and routing: lemmas, languages, kinds, complexity, the rules that choose the employee."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.config import load_config
from ingest.routing import router_from_settings
from router.route import Load, Situation
from router.understand import detect_language, fold
from tests.support import ROOT

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def router():  # type: ignore[no-untyped-def]
    return router_from_settings(load_config(ROOT / "config.example.toml", env={}))


def test_fold_strips_diacritics_and_case() -> None:
    assert fold("Ūdens ATKRITUMI šķirošana") == "udens atkritumi skirosana"
    assert fold("Гололёд") == "гололед"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Labdien, jau otro nedēļu netiek izvesti atkritumi no mūsu mājas.", "lv"),
        ("Labdien, jau otro nedelu netiek izvesti atkritumi no musu majas.", "lv"),
        ("Здравствуйте, у нас нет отопления.", "ru"),
        ("Hello, the bins in our yard were not emptied this week.", "en"),
        ("", "lv"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("subject", "text", "topic"),
    [
        ("Atkritumu konteiners", "", "atkritumi"),
        ("", "netiek izvesti atkritumi", "atkritumi"),
        ("", "Nav karsta udens jau divas dienas", "siltums"),  # typed without diacritics
        (
            "",
            "Karstajam ūdenim nav spiediena",
            "siltums",
        ),  # an inflected form of "karstais ūdens"? no: "karst ūden" stem
        ("Отопление", "В квартире холодно", "siltums"),
        ("", "The street was not cleared of snow", "celi"),
        ("", "Uz ielas liela bedre", "celi"),
        ("", "Lifts nestrādā", "nami"),
        ("", "Вопрос по счёту за октябрь", "rekini"),
        ("", "Wrong invoice amount", "rekini"),
        ("Sveiki", "Kāds ir jūsu darba laiks?", None),
    ],
)
def test_topics(router, subject: str, text: str, topic: str | None) -> None:  # type: ignore[no-untyped-def]
    u = router.understand(subject=subject, text=text)
    assert (u.topic.topic.key if u.topic else None) == topic


def test_inflected_forms_match_without_diacritics(router) -> None:  # type: ignore[no-untyped-def]
    from router.understand import KeywordIndex

    index = KeywordIndex(["ūdens", "sniegs"])
    for text in ("ūdenim", "ūdeni", "udeni", "UDENS", "sniegu", "sniega"):
        assert index.find(index.analyse(text), "ūdens" if "d" in text.lower() else "sniegs"), text
    assert index.find(index.analyse("ūdensvads"), "ūdens")  # a compound begins with it
    assert index.find(index.analyse("udeņi kāpnēs"), "sniegs") is None


def test_least_loaded_competent_employee_is_chosen(router) -> None:  # type: ignore[no-untyped-def]
    busy = router.decide(
        subject="atkritumi",
        text="",
        received_at=AT,
        situation=Situation(load={"atkritumi-1": Load(open=3), "atkritumi-2": Load(open=1)}),
    )
    assert busy.employee_key == "atkritumi-2"
    assert busy.rule == "topic-keyword"
    assert busy.facts["load"] == {"atkritumi-1": 3, "atkritumi-2": 1}
    due_today = router.decide(
        subject="atkritumi",
        text="",
        received_at=AT,
        situation=Situation(load={"atkritumi-1": Load(open=2, due_soon=2), "atkritumi-2": Load(open=3)}),
    )
    assert due_today.employee_key == "atkritumi-2"  # 2 open but both due today weigh 4 > 3
    tie = router.decide(subject="atkritumi", text="", received_at=AT, situation=Situation())
    assert tie.employee_key == "atkritumi-1"
    nothing = router.decide(subject="Labdien", text="Paldies!", received_at=AT, situation=Situation())
    assert nothing.employee_key == "koordinatore" and nothing.rule == "fallback"
    assert nothing.facts["reason"] == "no topic keyword matched"


def test_absent_employee_is_replaced_by_the_deputy_or_skipped(router) -> None:  # type: ignore[no-untyped-def]
    d = router.decide(
        subject="", text="Atkritumi nav izvesti", received_at=AT, situation=Situation(absent=frozenset({"atkritumi-1"}))
    )
    assert d.employee_key == "atkritumi-2" and d.facts["absent"] == ["atkritumi-1"]
    heating = router.decide(
        subject="", text="Nav apkures", received_at=AT, situation=Situation(absent=frozenset({"siltums"}))
    )
    assert heating.employee_key == "koordinatore" and heating.rule == "fallback"
    assert heating.facts["reason"] == "nobody competent for siltums is available"


def test_language_preference(router) -> None:  # type: ignore[no-untyped-def]
    # Both waste specialists speak Russian; only Olga Petrova speaks English.
    d = router.decide(subject="", text="Hello, our waste bin was not emptied.", received_at=AT, situation=Situation())
    assert d.language == "en" and d.employee_key == "atkritumi-2"
    assert d.facts["speaks_client_language"] == ["atkritumi-2"]


def test_complaint_goes_to_the_board_never_to_the_employee_named(router) -> None:  # type: ignore[no-untyped-def]
    d = router.decide(
        subject="Sūdzība",
        text="Vēlos iesniegt sūdzību par darbinieku Kalniņu, kurš bija rupjš pa telefonu.",
        received_at=AT,
        situation=Situation(),
    )
    assert d.kind == "complaint" and d.employee_key == "valde" and d.rule == "complaint-to-board"
    assert d.facts["employees_named"] == ["atkritumi-1"]
    about_board = router.decide(
        subject="Жалоба", text="Жалоба на Zariņu из правления.", received_at=AT, situation=Situation()
    )
    assert about_board.kind == "complaint"
    assert about_board.employee_key != "valde"


def test_client_keeps_their_employee(router) -> None:  # type: ignore[no-untyped-def]
    follow = router.decide(
        subject="",
        text="Vēl viens jautājums par konteineru?",
        received_at=AT,
        situation=Situation(
            client_employee="atkritumi-2", client_topic="atkritumi", load={"atkritumi-2": Load(open=9)}
        ),
    )
    assert follow.employee_key == "atkritumi-2" and follow.rule == "client-continuity"
    other_topic = router.decide(
        subject="", text="Nav apkures", received_at=AT, situation=Situation(client_employee="atkritumi-2")
    )
    assert other_topic.employee_key == "siltums"  # not competent for heating: the topic rules


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Kāpēc netika izvesti atkritumi?", "question"),
        ("Lūdzu, izvediet lielgabarīta atkritumus.", "request"),
        ("Ierosinu uzstādīt vēl vienu konteineru.", "suggestion"),
        ("Это безобразие, жалоба на вывоз мусора!", "complaint"),
        ("I would like to suggest more bins.", "suggestion"),
    ],
)
def test_kinds(router, text: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert router.understand(subject="", text=text).kind == kind


def test_complexity_signals(router) -> None:  # type: ignore[no-untyped-def]
    assert router.understand(subject="", text="Atkritumi").complexity == "simple"
    assert router.understand(subject="", text="Atkritumi", attachments=1).complexity == "complex"
    assert router.understand(subject="", text="Atkritumi. " * 200).complexity == "complex"
    both = router.understand(subject="", text="Atkritumi un arī apkure")
    assert both.complexity == "complex" and "several topics: atkritumi, siltums" in both.complexity_reasons
    # An invoice for waste collection is one matter (billing) about one service, not two topics.
    invoice = router.understand(subject="", text="Atkritumi un arī rēķins")
    assert invoice.topic is not None and invoice.topic.topic.key == "rekini" and invoice.concerns == "atkritumi"
    assert invoice.complexity == "simple"
    assert router.understand(subject="", text="Nav apkures").complexity == "complex"  # the topic's default
