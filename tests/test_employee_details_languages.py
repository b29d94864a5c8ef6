"""Employees' position, room and reception hours in the client's language (issue 13): one text or
one per language in the configuration, Latvian required; the acknowledgement to a Russian-speaking
client names the Russian ones; check-config warns by key where a language is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from ingest.config import ConfigError, parse_config
from ingest.config.checks import untranslated_details
from storage.models import Outbox
from tests.pipeline_office import pipeline_office
from tests.support import example_document


def test_a_detail_without_latvian_or_in_an_unknown_language_is_refused(tmp_path: Path) -> None:
    for position, why in (({"ru": "Инженер"}, "Latvian text is required"), ({"lv": "Inženieris", "de": "x"}, "'de'")):
        doc = example_document()
        doc["employees"][0]["position"] = position
        with pytest.raises(ConfigError, match=why):
            parse_config(doc, base_dir=tmp_path, env={})


def test_check_config_names_each_detail_a_language_is_missing_for(tmp_path: Path) -> None:
    settings = parse_config(example_document(), base_dir=tmp_path, env={})
    assert untranslated_details(settings) == [], "the example office has every detail in lv, ru and en"
    doc = example_document()
    doc["employees"][1]["position"] = {"lv": "Atkritumu apsaimniekošanas speciālists", "ru": "Специалист"}
    doc["employees"][1]["reception_hours"] = "P., T. 9:00–12:00"
    doc["service"]["name"] = "Klientu apkalpošana"
    found = untranslated_details(parse_config(doc, base_dir=tmp_path, env={}))
    assert found == [
        ("service.name", "ru, en"),
        ("employees[1].position (atkritumi-1)", "en"),
        ("employees[1].reception_hours (atkritumi-1)", "ru, en"),
    ]


def test_a_russian_client_reads_the_russian_position(make_settings: Any) -> None:
    raw = (
        "From: Sergejs <sergejs@client.example>\r\nTo: klienti@example.lv\r\nSubject: =?utf-8?b?"
        "0JLRi9Cy0L7QtyDQvNGD0YHQvtGA0LA=?=\r\nMessage-ID: <ru-1@client.example>\r\nContent-Type: text/plain; "
        "charset=utf-8\r\n\r\nЗдравствуйте! Уже неделю не вывозят мусор с улицы Бривибас 12. Когда вывезут?\r\n"
    ).encode()
    with pipeline_office(make_settings()) as office:
        office.store.store_sync(office.pipeline.channels["email"], source="smtp", raw=raw, meta={})
        office.pipeline.process_due()
        with Session(office.engine) as session:
            ack = session.exec(select(Outbox).where(col(Outbox.kind) == "client_ack")).one()
    text = ack.payload["text"]
    assert "Специалист по обращению с отходами" in text, text
    assert "speciālist" not in text and "Brīvības iela 1, Rīga" not in text
    # The office signs, and sends, under its Russian name.
    assert text.rstrip().endswith("Обслуживание клиентов") and ack.payload["from"][0] == "Обслуживание клиентов"
