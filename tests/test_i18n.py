"""The workspace's languages: complete catalogs, plural rules, Latvian by default, a switch.

The catalog test extracts the messages from the code and the templates the way
``pybabel extract`` does (ingest/i18n/babel.cfg) and fails on any text that Latvian or Russian
does not translate, so a new string cannot reach a page in English by accident.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from ingest.i18n import LANGUAGES, load_catalogs, po_path
from tests.dashboard_helpers import NOW, PASSWORD, Clock, give_passwords, login, seed
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service

ROOT = Path(__file__).resolve().parent.parent


def extracted_ids() -> set[str | tuple[str, str]]:
    with (ROOT / "ingest" / "i18n" / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(ROOT, method_map, options_map):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


@pytest.mark.parametrize("language", ["lv", "ru"])
def test_every_text_is_translated(language: str) -> None:
    ids = extracted_ids()
    assert len(ids) > 100, "the extraction found the workspace's texts"
    with po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    missing = []
    for key in sorted(ids, key=str):
        entry = catalog.get(key if isinstance(key, str) else key[0])
        strings = [] if entry is None else ([entry.string] if isinstance(entry.string, str) else list(entry.string))
        if entry is None or entry.fuzzy or not all(strings):
            missing.append(key)
    assert missing == [], f"untranslated in {language}: {missing}"


def test_plural_forms_follow_each_language() -> None:
    catalogs = load_catalogs()

    def said(language: str, n: int) -> str:
        return catalogs.get(language).ngettext("%(num)s byte", "%(num)s bytes", n) % {"num": n}

    assert [said("lv", n) for n in (1, 2, 11, 21, 22)] == ["1 baits", "2 baiti", "11 baiti", "21 baits", "22 baiti"]
    assert [said("ru", n) for n in (1, 2, 5, 11, 21, 22)] == [
        "1 байт", "2 байта", "5 байт", "11 байт", "21 байт", "22 байта",
    ]  # fmt: skip
    assert [said("en", n) for n in (1, 2)] == ["1 byte", "2 bytes"]
    assert catalogs.get("xx").gettext("Log out") == "Iziet", "an unknown language is Latvian"


PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.mark.parametrize("language", ["lv", "ru"])
def test_translations_keep_the_placeholders_of_their_text(language: str) -> None:
    """A translation that drops or invents a %(name)s fails here, not as a KeyError in a running
    job (a reminder, the pipeline) or a page."""
    with po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    wrong = []
    for entry in catalog:
        if not entry.id:
            continue
        ids = [entry.id] if isinstance(entry.id, str) else list(entry.id)
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        expected = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            if not string:
                continue  # untranslated: the English text is shown (test_every_text_is_translated)
            found = set(PLACEHOLDER.findall(string))
            # A plural form may leave out the number ("один" for 1), never add a name.
            if not found <= expected or (len(ids) == 1 and found != expected):
                wrong.append((ids[0], string))
    assert wrong == [], wrong


@pytest.mark.slow  # a running service
def test_pages_are_latvian_by_default_and_switch_per_browser(make_settings: Any) -> None:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "valde")
        seed(service.sessions)
        base = f"http://127.0.0.1:{service.http_port}"
        anonymous = httpx.get(base + "/dashboard/login")
        assert '<html lang="lv">' in anonymous.text and "Pieteikties" in anonymous.text
        client, _ = login(base, "valde", PASSWORD)
        overview = client.get("/dashboard")
        assert '<html lang="lv">' in overview.text and "Pārskats" in overview.text and "Iziet" in overview.text
        switched = client.get("/dashboard/language/ru", params={"next": "/dashboard"})
        assert switched.status_code == 303 and switched.headers["location"] == "/dashboard"
        assert client.cookies.get("gk_lang") == "ru"
        russian = client.get("/dashboard")
        assert '<html lang="ru">' in russian.text and "Обзор" in russian.text and "Выйти" in russian.text
        client.get("/dashboard/language/en")
        assert "Overview" in client.get("/dashboard").text
        # The way back never leaves the dashboard, and an unknown language is Latvian.
        away = client.get("/dashboard/language/xx", params={"next": "//evil.example/"})
        assert away.headers["location"] == "/dashboard" and client.cookies.get("gk_lang") == "lv"
        assert set(LANGUAGES) == {"lv", "ru", "en"}
