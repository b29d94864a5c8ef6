"""Notes kept from e-mail replies that nothing proves are marked on the inquiry page (issue 15).

A reply whose ``From`` is an employee's but that no DKIM signature or office mail server vouches
for is kept as an internal note (ingest/pipeline/staff_reply.py). The page must not show it as
the employee's own words: it carries a mark with a short explanation, and so does a proven reply
to a notification that went to someone else. A proven note carries none. Over real HTTP.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from ingest.api.tokens import create_token
from ingest.dashboard.note_marks import MARKS
from ingest.i18n import load_catalogs
from ingest.pipeline.arrival import Outcome
from storage.db import transaction
from storage.models import Employee, Message
from storage.types import utcnow
from tests.dashboard_helpers import PASSWORD, give_passwords, login
from tests.staff_proof_helpers import STAFF_REPLIES, vouch
from tests.support import running_service
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_staff_reply_proof import deliver, office, reply, the_inquiry

FORGED = "Klientam atbildēts, var slēgt."
PROVEN = "Zvanīju klientam, viss kārtībā."
COLLEAGUE = "Šo varu izdarīt es."


def notes(engine: Any) -> dict[str, int]:
    """The id of each note message, by its text."""
    with Session(engine) as session:
        found = session.exec(select(Message).where(Message.direction == "note").order_by(col(Message.id))).all()
        return {m.text.strip(): m.id for m in found if m.id is not None}


def doubt_on(page: str, message_id: int) -> str | None:
    """The class of the note's mark on the page (its reason), None when it has none."""
    item = re.search(rf'<li class="message note" id="message-{message_id}">(.*?)</li>', page, re.S)
    assert item, f"note {message_id} is not on the page"
    mark = re.search(r'<div class="doubt ([a-z_]+)" id="doubt-\d+">', item.group(1))
    return mark.group(1) if mark else None


def three_notes(make_settings: Any) -> tuple[str, dict[str, int]]:
    """The lift inquiry with three replies kept as notes: the responsible employee's unproven, the
    same employee's proven ``#piezīme``, a colleague's proven one; its reference and the note ids."""
    with office(make_settings, **STAFF_REPLIES) as world:
        inquiry, responsible = the_inquiry(world)
        with Session(world.engine) as session:
            colleague = session.exec(select(Employee).where(Employee.key == "siltums")).one()
        assert deliver(world, reply(world, responsible.email, FORGED, 1)) == Outcome.NOTE
        assert deliver(world, vouch(reply(world, responsible.email, f"#piezīme\n{PROVEN}", 2))) == Outcome.NOTE
        assert deliver(world, vouch(reply(world, colleague.email, COLLEAGUE, 3))) == Outcome.NOTE
        return inquiry.reference, notes(world.engine)


@pytest.mark.slow  # a running service
def test_an_unproven_reply_is_marked_on_the_page_and_a_proven_note_is_not(make_settings: Any) -> None:
    reference, ids = three_notes(make_settings)
    with running_service(make_settings(staff_replies=STAFF_REPLIES)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        give_passwords(service.sessions, "koordinatore")
        client, _ = login(base, "koordinatore", PASSWORD)
        page = client.get(f"/dashboard/inquiries/{reference}").text
        with transaction(service.sessions) as session:
            token = create_token(session, employee_key="koordinatore", name="test", now=utcnow()).secret
        shown = httpx.get(f"{base}/api/v1/inquiries/{reference}", headers={"Authorization": f"Bearer {token}"},
                          timeout=30)  # fmt: skip
    # The API says the same: the note's reason, and whose doing the event is (a colleague's proven
    # reply to a notification that went to someone else is theirs in name only: it grants no access).
    assert shown.status_code == 200, shown.text
    kept = {e["data"]["message_id"]: e for e in shown.json()["events"] if e["type"] == "note_added"}
    assert [(kept[ids[t]]["data"]["reason"], kept[ids[t]]["actor_kind"]) for t in (FORGED, PROVEN, COLLEAGUE)] == [
        ("unverified", "sender"), (None, "employee"), ("not_yours", "sender")
    ]  # fmt: skip
    assert doubt_on(page, ids[FORGED]) == "unverified"
    assert doubt_on(page, ids[PROVEN]) is None
    assert doubt_on(page, ids[COLLEAGUE]) == "not_yours"
    # The words staff read, in the page's language (Latvian by default).
    lv = load_catalogs().by_language["lv"].gettext
    assert lv(MARKS["unverified"].label) in page and lv(MARKS["not_yours"].label) in page
    assert page.count('class="doubt ') == 2


@pytest.mark.slow  # starts Chromium
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_mark_is_visible_in_chromium(make_settings: Any) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` (.ci/run does)")
    from playwright.sync_api import expect, sync_playwright

    reference, ids = three_notes(make_settings)
    csp_violations: list[str] = []
    with running_service(make_settings(staff_replies=STAFF_REPLIES)) as service, sync_playwright() as p:
        give_passwords(service.sessions, "koordinatore")
        base = f"http://127.0.0.1:{service.http_port}"
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: "Content Security Policy" in m.text and csp_violations.append(m.text))
            page.goto(f"{base}/dashboard/login?next=/dashboard/inquiries/{reference}")
            page.fill("#employee", "koordinatore")
            page.fill("#password", PASSWORD)
            page.click("#login")
            expect(page).to_have_url(f"{base}/dashboard/inquiries/{reference}")
            badge = page.locator(f"#doubt-{ids[FORGED]} .badge")
            expect(badge).to_be_visible()
            lv = load_catalogs().by_language["lv"].gettext
            expect(badge).to_have_text(lv(MARKS["unverified"].label))
            # Set apart from the note's text: white on red, not the note's own colours.
            assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(170, 0, 0)"
            expect(page.locator(f"#message-{ids[PROVEN]} .doubt")).to_have_count(0)
        finally:
            browser.close()
    assert csp_violations == [], csp_violations
