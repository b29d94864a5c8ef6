"""Reply templates in the answer form, over real HTTP (policy 16): choosing one (a GET, no
JavaScript) fills the answer with its placeholders rendered; the answer goes out signed in the
client's language (policy 8); the office's template text cannot inject HTML into the page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from storage.db import transaction
from storage.models import Inquiry, Message, Outbox
from tests.dashboard_helpers import NOW, PASSWORD, XSS_ATTR, XSS_SCRIPT, Clock, csrf_of, give_passwords, login, seed
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service

SIGNATURE = "Jānis Kalniņš, Atkritumu apsaimniekošanas speciālists"


def replies_folder(root: Path) -> Path:
    folder = root / "atbildes"
    folder.mkdir()
    files = {
        "grafiks.lv.txt": f"Grafiks {XSS_SCRIPT}\ntopic: atkritumi\n\nLabdien, {{{{ client_name }}}}! Pieprasījums "
        f"{{{{ reference }}}}, atbilde līdz {{{{ due }}}}. {XSS_ATTR}\n"
        "{{ employee.name }} {{ employee.surname }}, {{ employee.position }}",
        "visiem.ru.txt": "Уточнение\n\nУкажите адрес, пожалуйста ({{ reference }}).",
        "apkure.lv.txt": "Apkure\ntopic: siltums\n\nApkure tiks atjaunota.",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@contextmanager
def office(make_settings: Any, tmp_path: Path) -> Iterator[tuple[Any, str, dict[str, str]]]:
    settings = settings_with_admin(
        make_settings, client_messages={"reply_templates_dir": str(replies_folder(tmp_path))}
    )
    with running_service(settings, clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "atkritumi-1")
        yield service, f"http://127.0.0.1:{service.http_port}", seed(service.sessions)


def options(page: str, group: str) -> list[tuple[str, str]]:
    found = re.search(rf'<optgroup id="templates-{group}"[^>]*>(.*?)</optgroup>', page, re.S)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', found.group(1)) if found else []


def textarea(page: str) -> str:
    found = re.search(r'<textarea name="text" id="answer-text"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no answer box"
    return found.group(1)


@pytest.mark.slow  # a running service
def test_a_template_prefills_the_answer_which_goes_out_signed(make_settings: Any, tmp_path: Path) -> None:
    with office(make_settings, tmp_path) as (service, base, refs):
        client, _ = login(base, "atkritumi-1", PASSWORD)
        ref = refs["C"]  # topic atkritumi, the client's name carries an XSS payload, due 11.03.2026 09:00
        page = client.get(f"/dashboard/inquiries/{ref}").text
        assert [key for key, _ in options(page, "suggested")] == ["grafiks.lv"]
        assert [key for key, _ in options(page, "other")] == ["apkure.lv", "visiem.ru"]
        assert textarea(page) == ""
        assert SIGNATURE in re.search(r'id="answer-signature">(.*?)</p>', page, re.S).group(1)  # type: ignore[union-attr]
        # The template's title and text are the office's: shown as text, never as markup.
        assert XSS_SCRIPT not in page and XSS_ATTR not in page
        assert html.escape(f"Grafiks {XSS_SCRIPT}", quote=False) in page

        chosen = client.get(f"/dashboard/inquiries/{ref}", params={"template": "grafiks.lv"})
        assert chosen.status_code == 200 and XSS_SCRIPT not in chosen.text and XSS_ATTR not in chosen.text
        assert 'value="grafiks.lv" selected' in chosen.text
        text = html.unescape(textarea(chosen.text))
        assert text == (
            f"Labdien, Pēteris {XSS_ATTR}! Pieprasījums {ref}, atbilde līdz 11.03.2026 09:00. {XSS_ATTR}\n{SIGNATURE}"
        )
        for unknown in ("nav.lv", "../grafiks.lv", "grafiks.lv.txt", "{{ 7*7 }}"):
            ignored = client.get(f"/dashboard/inquiries/{ref}", params={"template": unknown})
            assert ignored.status_code == 200 and textarea(ignored.text) == "", unknown

        # The employee edits the text and sends it; the client receives it signed, in Latvian.
        sent_text = text.replace("Pieprasījums", "Jūsu pieprasījums")
        answered = client.post(f"/dashboard/inquiries/{ref}/answer",
                               data={"csrf": csrf_of(chosen.text), "text": sent_text})  # fmt: skip
        assert answered.status_code == 303 and answered.headers["location"].endswith("?done=answered")
        with service.sessions() as session:
            (out,) = session.exec(select(Outbox).where(Outbox.kind == "client_answer")).all()
            stored = session.exec(select(Message).where(Message.direction == "out")).one()
        assert (
            out.channel == "email"
            and out.payload["text"] == f"{sent_text}\n\nAr cieņu,\n{SIGNATURE}\nKlientu apkalpošana\n"
        )
        assert stored.text == out.payload["text"], "the timeline keeps what the client received"


@pytest.mark.slow  # a running service
def test_a_russian_client_gets_russian_templates_first_and_a_russian_closing(
    make_settings: Any, tmp_path: Path
) -> None:
    with office(make_settings, tmp_path) as (service, base, refs):
        ref = refs["G"]  # open, topic atkritumi, Jānis Kalniņš
        with transaction(service.sessions) as session:
            row = session.exec(select(Inquiry).where(Inquiry.reference == ref)).one()
            row.language = "ru"
            session.add(row)
        client, _ = login(base, "atkritumi-1", PASSWORD)
        page = client.get(f"/dashboard/inquiries/{ref}").text
        assert [key for key, _ in options(page, "suggested")] == ["visiem.ru"]
        assert [key for key, _ in options(page, "other")] == ["apkure.lv", "grafiks.lv"]
        chosen = client.get(f"/dashboard/inquiries/{ref}?template=visiem.ru").text
        assert html.unescape(textarea(chosen)) == f"Укажите адрес, пожалуйста ({ref})."
        client.post(f"/dashboard/inquiries/{ref}/answer", data={"csrf": csrf_of(chosen), "text": "Укажите адрес."})
        with service.sessions() as session:
            out = session.exec(select(Outbox).where(Outbox.kind == "client_answer").order_by(col(Outbox.id))).one()
        # The position and the office's name in Russian too (config.example.toml has them).
        ru_signature = "Jānis Kalniņš, Специалист по обращению с отходами"
        assert out.payload["text"] == f"Укажите адрес.\n\nС уважением,\n{ru_signature}\nОбслуживание клиентов\n"
