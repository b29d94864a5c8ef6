"""Understanding and routing: lemmas, languages, kinds, complexity, the rules that choose the employee."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.config import load_config
from ingest.inquiries.explain import _explain_routing
from ingest.routing import router_from_settings
from router import lexicon
from router.route import Load, Situation
from router.translit import cyrillic_readings, name_skeleton
from router.understand import Topic, Understander, detect_language, fold
from tests.support import ROOT

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = load_config(ROOT / "config.example.toml", env={})
    return router_from_settings(settings, lexicon_folder=tmp_path_factory.mktemp("lexicon"))


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


# --- issue 16: evidence, Russian in Latin letters, names in any script, the lexicon ----------


def test_topics_are_weighed_and_the_scores_recorded(router) -> None:  # type: ignore[no-untyped-def]
    d = router.decide(
        subject="Rēķins",
        text="Kāpēc novembra rēķinā par mājas apsaimniekošanu summa ir divreiz lielāka?",
        received_at=AT,
        situation=Situation(),
    )
    assert d.topic_key == "rekini" and d.employee_key == "rekini" and d.complexity == "simple"
    assert d.facts["concerns"] == "nami" and set(d.facts["topic_scores"]) == {"rekini", "nami"}
    assert d.facts["topic_scores"]["rekini"] > d.facts["topic_scores"]["nami"]
    explained = _explain_routing({"rule": d.rule, "employee": d.employee_key, "facts": d.facts})
    assert any(line.startswith("topic scores: rekini ") and ", nami " in line for line in explained)
    assert "concerning the service: nami" in explained
    # Evidence outweighs order: the roof (twice) over the pavement (once, later).
    roof = router.understand(subject="Lāstekas", text="Uz ietves krīt lāstekas no jumta. Notīriet jumtu!")
    assert roof.topic.topic.key == "nami" and roof.complexity == "simple" and not roof.near_ties
    # An invoice mentioned in passing does not take a waste letter to billing.
    waste = router.understand(
        subject="Atkritumi", text="Atkritumi nav izvesti, konteineri pārpildīti, maisi pagalmā. Rēķins gan atnāca."
    )
    assert waste.topic.topic.key == "atkritumi" and waste.concerns is None


def test_without_roles_the_first_configured_topic_wins_ties() -> None:
    # An old configuration (no role): equal evidence goes to the topic listed first, as before.
    topics = [
        Topic("atkritumi", "Atkritumi", ("atkritum",), ("a",), "simple"),
        Topic("rekini", "Rēķini", ("rēķin",), ("r",), "simple"),
    ]
    u = Understander(topics=topics, kinds={})
    assert [m.topic.key for m in u.understand(subject="", text="rēķins atkritumi").topics] == ["rekini", "atkritumi"]
    assert u.understand(subject="", text="atkritumi rēķins").topic.topic.key == "atkritumi"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Musor ne vyvozjat uzhe nedelju", "atkritumi"),
        ("schet za vyvoz musora prishel dvazhdy", "rekini"),
        ("U nas net otoplenija, batarei holodnye", "siltums"),
        ("Na trotuare gololed", "celi"),
        ("V podjezde ne rabotaet lift", "nami"),
    ],
)
def test_russian_in_latin_letters(router, text: str, topic: str) -> None:  # type: ignore[no-untyped-def]
    u = router.understand(subject="", text=text)
    assert u.language == "ru" and u.transliterated
    assert u.topic is not None and u.topic.topic.key == topic


def test_latvian_and_english_are_not_read_as_russian(router) -> None:  # type: ignore[no-untyped-def]
    for text, language in (
        ("Sveiki, ka es varu samaksat rekinu par atkritumu izvesanu?", "lv"),
        ("Nav karsta udens jau divas dienas", "lv"),
        ("The bins were not emptied this week", "en"),
        # Its one Russian-looking word is a keyword misspelt ("контейнерс"): no frequent Russian word.
        ("Kontejners pilns", "lv"),
    ):
        u = router.understand(subject="", text=text)
        assert (u.language, u.transliterated) == (language, False), text


def test_cyrillic_readings() -> None:
    assert "мусор" in cyrillic_readings("musor")
    assert "счет" in cyrillic_readings("schet") and "щет" in cyrillic_readings("schet")
    assert "вывозят" in cyrillic_readings("vyvozjat")
    assert "горячей" in cyrillic_readings("gorjachej")
    assert cyrillic_readings("ūdens") == ()


@pytest.mark.parametrize(
    ("written", "employee"),
    [
        ("Kalniņš", "atkritumi-1"),
        ("Kalniņu", "atkritumi-1"),
        ("Kalninam", "atkritumi-1"),
        ("Калниньш", "atkritumi-1"),
        ("Калниньша", "atkritumi-1"),
        ("Калнинш", "atkritumi-1"),
        ("Kalninsha", "atkritumi-1"),
        ("Петрову", "atkritumi-2"),
        ("Петровой", "atkritumi-2"),
        ("Petrovai", "atkritumi-2"),
        ("Зариню", "valde"),
        ("Zarinju", "valde"),
        ("Иванову", "rekini"),
        ("Иванов", "rekini"),
        ("Озолсом", "siltums"),
        ("Круминей", "nami"),
        ("Лиепы", "celi"),
        ("Берзиня", "koordinatore"),
    ],
)
def test_surnames_in_any_script_and_case(router, written: str, employee: str) -> None:  # type: ignore[no-untyped-def]
    assert router.named_employees([f"Жалоба на {written}, грубо отвечал."]) == [employee]


def test_names_that_are_not_surnames_and_the_senders_own(router) -> None:  # type: ignore[no-untyped-def]
    assert router.named_employees(["Zari nolūza vējā, zarainā mežā"]) == []  # "zari": branches, not Zariņa
    assert router.named_employees(["Жалоба на Петрову. Анна Берзиня"], "Анна Берзиня") == ["atkritumi-2"]
    assert name_skeleton("Kalniņš") == name_skeleton("Калниньш") == "kalnins"


def test_names_in_any_message_of_the_inquiry(router) -> None:  # type: ignore[no-untyped-def]
    first = "Здравствуйте, контейнер не вывозят."
    later = "Жалоба: ваш сотрудник Калниньш ответил грубо."
    assert router.named_employees([first]) == []
    assert router.named_employees([first, later]) == ["atkritumi-1"]


def test_lexicon_built_once_then_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    words = ["ūdens", "мусор", "invoice"]
    built = lexicon.load_lexicon(words, tmp_path)
    [file] = tmp_path.iterdir()
    assert file.stat().st_size < 100_000
    assert {"udeni", "ūdeni", "ūdenim"} <= set(built.forms["lv"]) | set(built.folded)
    assert "udens" in built.lemmas("udeni") and "мусор" in built.lemmas("мусора")

    def no_build(words: frozenset[str]) -> dict[str, object]:
        raise AssertionError("built again")

    monkeypatch.setattr(lexicon, "_document_for", no_build)
    assert lexicon.load_lexicon(words, tmp_path) == built  # read, not built
    # Another simplemma or another keyword set is another file.
    assert lexicon.lexicon_key(words) != lexicon.lexicon_key([*words, "siltum"])
    file.write_text(json.dumps({"format": -1}), encoding="utf-8")
    monkeypatch.undo()
    assert lexicon.load_lexicon(words, tmp_path) == built  # an unreadable file is built again


def test_the_router_holds_no_simplemma_dictionary(router) -> None:  # type: ignore[no-untyped-def]
    from simplemma.strategies.dictionaries.dictionary_factory import DEFAULT_DICTIONARY_FACTORY

    router.understand(subject="Rēķins", text="Musor ne vyvozjat, ūdens, отопление, invoice")
    assert DEFAULT_DICTIONARY_FACTORY._get_dictionary.cache_info().currsize == 0  # type: ignore[attr-defined]
