"""The inquiry list (/dashboard/inquiries): "mine" by default, filters, and every figure of the
overview linking to a list of exactly the inquiries it counts (issue 12, item 1)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlmodel import select

from storage.staff_models import AuditLog
from tests.dashboard_helpers import NOW, PASSWORD, XSS_SCRIPT, Clock, figures_on_page, give_passwords, login, seed
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service

ROW = re.compile(r'<tr class="[^"]*" data-reference="([^"]+)">')
LINKED = re.compile(r'data-figure="([^"]+)"[^>]*><a href="([^"]+)">(\d+)</a>')
TOTAL = re.compile(r'<p class="note" id="total">(\d+) ')


@contextmanager
def office(make_settings: Any) -> Iterator[tuple[str, dict[str, str]]]:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "atkritumi-1", "koordinatore", "valde")
        refs = seed(service.sessions)
        yield f"http://127.0.0.1:{service.http_port}", refs
        with service.sessions() as session:
            assert session.exec(select(AuditLog).where(AuditLog.action == "dashboard.list")).first() is not None


def listed(client: httpx.Client, **params: str) -> tuple[int, list[str], str]:
    page = client.get("/dashboard/inquiries", params=params)
    assert page.status_code == 200, page.text
    total = TOTAL.search(page.text)
    assert total, "the list says how many match"
    return int(total.group(1)), ROW.findall(page.text), page.text


def test_an_employee_sees_their_own_by_default_and_never_a_complaint_about_them(make_settings: Any) -> None:
    with office(make_settings) as (base, refs):
        client, _ = login(base, "atkritumi-1", PASSWORD)
        total, shown, page = listed(client)
        mine = {refs[n] for n in ("A", "B", "C", "G")}
        assert set(shown) == mine and total == 4 and "Mani pieprasījumi" in page
        # Due first: G (23.02) before C (11.03 09:00); answered ones have due dates too.
        assert shown.index(refs["G"]) < shown.index(refs["C"])
        every, shown_all, _ = listed(client, employee="")
        assert refs["E"] not in shown_all, "a complaint naming the employee never reaches them"
        assert refs["D"] not in shown_all and every == len(shown_all)
        assert html.escape(XSS_SCRIPT, quote=False) in page and XSS_SCRIPT not in page


def test_filters_of_a_supervisor(make_settings: Any) -> None:
    with office(make_settings) as (base, refs):
        client, _ = login(base, "koordinatore", PASSWORD)
        _, shown, _ = listed(client)
        assert refs["E"] not in shown and {refs["A"], refs["D"], refs["F"]} <= set(shown)
        _, overdue, _ = listed(client, overdue="1")
        assert set(overdue) == {refs["C"], refs["G"]}
        _, waiting, _ = listed(client, status="waiting_client")
        assert waiting == [refs["F"]]
        _, unanswered, _ = listed(client, status="unanswered")
        assert set(unanswered) == {refs["C"], refs["D"], refs["F"], refs["G"]}
        _, found, _ = listed(client, q="konteiners")
        assert found == [refs["C"]]
        _, today, _ = listed(client, due="today")
        assert set(today) == {refs["C"], refs["D"], refs["G"]}, "due by the end of today, overdue included"
        assert client.get("/dashboard/inquiries", params={"status": "lost"}).status_code == 400
        assert client.get("/dashboard/inquiries", params={"from": "2026-02-30", "to": "x"}).status_code == 400


@pytest.mark.slow  # every figure of three roles fetched
def test_every_figure_links_to_the_inquiries_it_counts(make_settings: Any) -> None:
    with office(make_settings) as (base, _refs):
        for key in ("koordinatore", "valde", "atkritumi-1"):
            client, _ = login(base, key, PASSWORD)
            overview = client.get("/dashboard").text
            links = LINKED.findall(overview)
            assert len(links) > 10 and len(links) == len({name for name, _, _ in links}), key
            shown = figures_on_page(overview)
            for name, href, value in links:
                total, _, _ = listed(client, **dict(httpx.URL(html.unescape(href)).params))
                assert total == int(value) == int(shown[name]), (key, name, href)
