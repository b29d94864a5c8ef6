"""A whole staff day in the browser (issue 12, "What must be shown"), in the Debian Chromium through
Playwright, on both databases.

In the morning clients write in through the real inputs: an e-mail over SMTP, a WhatsApp message
with a photo through the signed Twilio webhook (the photo fetched from a local fake Twilio), a missed
call from the same number through a signed Twilio Voice callback (a call-back task on her WhatsApp
inquiry for its employee, issue 18), two more e-mails and a complaint naming the waste specialist.
The specialist (atkritumi-1) logs in, sees the new inquiries in "mine", opens the WhatsApp one and
sees the photo and the missed call, notes, answers it with a reply template (the
fake Twilio gets the signed text), marks another waiting, answers the e-mail (the relay gets it),
closes the client's "Paldies!" without writing again, and logs a visit with "suggest the written
form". On Friday the coordinator clicks the overdue figure, lands on the filtered list and reassigns
one with a reason; the board opens the complaint, which the named specialist can neither find in
search or lists nor open by its address.

Every page is shot at 1280 and 390 px (tests/artifacts/staff-day-<db>-<page>-<width>.png, ignored by
git) and must not scroll sideways at 390 px (all pages are measured, then the test fails naming each
one that does); no dialog opens and the Content-Security-Policy is never
violated. Without Chromium or playwright this test fails, it does not skip.

An unsigned answer and a page too wide for 390 px do not stop the day: they
are collected (``day.pending``, ``day.overflows``) and fail the test at the end, each one named.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from storage.models import Employee
from tests.dashboard_helpers import Clock, give_passwords
from tests.staff_day_helpers import (
    BOARD,
    CHROMIUM,
    CHROMIUM_ARGS,
    DEPUTY,
    EMPLOYEE,
    EMPLOYEE_NAME,
    EMPLOYEE_POSITION,
    FRIDAY,
    MEDIA,
    MORNING,
    PHOTO,
    PHOTO_WIDTH,
    SUPERVISOR,
    WHATSAPP,
    Day,
    client_mail,
    day_settings,
    log_in,
    shoot,
)
from tests.support import running_service, wait_until
from tests.twilio_helpers import FakeMessagesApi

ANNA = "Anna Liepa <anna.liepa@client.example>"
COMPLAINT = "Sūdzība: speciālists Jānis Kalniņš bija rupjš pa tālruni, atkritumi joprojām nav izvesti."


def playwright_or_fail() -> Any:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the `playwright` package is missing: pip install -e '.[test]'")
    return sync_playwright


@pytest.mark.slow  # a running service, a fake Twilio, a mail relay and Chromium
def test_a_whole_staff_day_in_chromium(make_settings: Any, relay: Any, database_url: str) -> None:
    sync_playwright = playwright_or_fail()
    db = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    clock = Clock(MORNING)
    with FakeMessagesApi() as api, running_service(day_settings(make_settings, relay.port, api.url), clock=clock) as s:
        give_passwords(s.sessions, EMPLOYEE, SUPERVISOR, BOARD)
        day = Day(service=s, relay=relay, api=api, clock=clock, db=db)
        clients_write_in(day)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                employee_morning(day, log_in(day, browser, EMPLOYEE))
                clock.now = FRIDAY  # Thursday's deadlines have passed
                supervisor_reassigns_an_overdue_one(day, log_in(day, browser, SUPERVISOR))
                board_opens_the_complaint(day, log_in(day, browser, BOARD))
                named_employee_cannot_find_the_complaint(day, log_in(day, browser, EMPLOYEE))
            finally:
                browser.close()
    print("\nscreenshots:", *sorted(str(p) for p in day.shots), sep="\n  ")
    problems = [f"a dialog opened (a script ran): {d}" for d in day.dialogs]
    problems += [f"CSP violation: {c}" for c in day.csp] + day.overflows + day.pending
    if problems:
        pytest.fail("the day went through, but:\n- " + "\n- ".join(problems))


def clients_write_in(day: Day) -> None:
    day.arrives("email", lambda: day.mail(client_mail(ANNA, "Neizvesti atkritumi",
                "Labdien! Jau nedēļu nav izvesti atkritumi no Brīvības ielas 12. Lūdzu, izvediet.")))  # fmt: skip
    photo = day.api.add_media(MEDIA, "image/png", PHOTO)
    day.arrives("whatsapp", lambda: day.whatsapp("SM" + "1" * 32, "Labdien! Konteiners pie mājas ir pārpildīts, "
                "foto pielikumā.", media=[(photo, "image/png")]))  # fmt: skip
    # The WhatsApp client also called and nobody answered: a call-back task on her open inquiry
    # for its employee (issue 18), not an inquiry of its own.
    day.missed_call("CA" + "2" * 32)
    wait_until(lambda: day.outbox(kind="staff_call_back"), what="the call-back task")
    day.arrives("waiting", lambda: day.mail(client_mail("Kārlis Ozols <karlis.ozols@client.example>", "Konteiners",
                "Lūdzu nomainīt salauzto konteineru pie mājas Tērbatas ielā 5.")))  # fmt: skip
    day.arrives("overdue", lambda: day.mail(client_mail("Сергей Смирнов <sergej@client.example>", "Вывоз мусора",
                "Здравствуйте! Контейнер во дворе не вывезли уже неделю.")))  # fmt: skip
    day.arrives("complaint", lambda: day.mail(client_mail("Pēteris Kļava <peteris@client.example>", "Sūdzība",
                COMPLAINT)))  # fmt: skip
    owners = {name: day.employee_of(ref) for name, ref in day.refs.items()}
    assert owners == {"email": EMPLOYEE, "whatsapp": EMPLOYEE, "waiting": EMPLOYEE,
                      "overdue": EMPLOYEE, "complaint": BOARD}, owners  # fmt: skip


# --- the waste specialist's morning -------------------------------------------------------------


def employee_morning(day: Day, page: Any) -> None:
    sees_mine(day, page)
    sees_the_photo_and_notes(day, page)
    sees_the_call_back(day, page)
    answers_whatsapp_with_a_template(day, page)
    marks_one_waiting(day, page)
    answers_by_mail_and_closes_the_thanks(day, page)
    logs_a_visit(day, page)
    page.context.close()


def sees_mine(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    page.click("#to-list")
    expect(page).to_have_url(f"{day.base}/dashboard/inquiries")  # "mine" by default
    expect(page.locator("html")).to_have_attribute("lang", "lv")
    for name in ("email", "whatsapp", "waiting", "overdue"):
        expect(page.locator(f'#inquiries tr[data-reference="{day.refs[name]}"]')).to_be_visible()
    expect(page.locator(f'tr[data-reference="{day.refs["complaint"]}"]')).to_have_count(0)
    expect(page.locator(f'#inquiries tr[data-reference="{day.refs["whatsapp"]}"]')).to_contain_text("WhatsApp")
    expect(page.locator(f'#inquiries tr[data-reference="{day.refs["email"]}"]')).to_contain_text("Neizvesti atkritumi")
    shoot(day, page, "list")


def sees_the_photo_and_notes(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    ref = day.refs["whatsapp"]
    attachment = day.photo_fetched(ref)
    page.locator(f'#inquiries tr[data-reference="{ref}"]').get_by_role("link", name=ref).click()
    expect(page).to_have_url(f"{day.base}/dashboard/inquiries/{ref}")
    expect(page.locator("#timeline")).to_contain_text("foto pielikumā")
    thumbnail = page.locator("#timeline img.thumbnail")
    expect(thumbnail).to_have_count(1)
    src = thumbnail.get_attribute("src")
    assert src == f"/dashboard/inquiries/{ref}/attachments/{attachment}", src
    thumbnail.scroll_into_view_if_needed()
    page.wait_for_function(
        "(w) => document.querySelector('#timeline img.thumbnail').naturalWidth === w", arg=PHOTO_WIDTH
    )
    download = page.request.get(day.base + src)
    assert download.status == 200 and download.body() == PHOTO

    page.fill("#note-text", "Konteiners jāapskata dabā; piezvanīšu klientei pēc apskates.")
    page.click("#note")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Konteiners jāapskata dabā")
    shoot(day, page, "inquiry")


def sees_the_call_back(day: Day, page: Any) -> None:
    """The missed call is on the WhatsApp inquiry's timeline, and its employee was asked to call."""
    from playwright.sync_api import expect

    ref = day.refs["whatsapp"]
    page.goto(f"{day.base}/dashboard/inquiries/{ref}")
    expect(page.locator("#timeline")).to_contain_text("jāatzvana")
    (task,) = day.outbox(kind="staff_call_back")
    inquiry = day.inquiry(ref)
    assert task.inquiry_id == inquiry.id and day.employee_of(ref) == EMPLOYEE
    with day.service.sessions() as session:
        employee = session.get(Employee, inquiry.employee_id)
        assert employee is not None and task.recipient == employee.email


def use_a_template(page: Any) -> str:
    """Chooses the first reply template the answer form offers (for the inquiry's topic and the
    client's language, first); the page comes back with the answer filled in. Returns its name."""
    choice = page.locator('select[name="template"]')
    names = [v for v in choice.locator("option").evaluate_all("(os) => os.map((o) => o.value)") if v]
    assert names, "the answer form offers no reply template"
    choice.select_option(names[0])
    if "template=" not in page.url:  # without a script, the choice is sent with its own button
        page.locator('form:has(select[name="template"]) button[type="submit"]').first.click()
    page.wait_for_url(re.compile(r"[?&]template="))
    filled = page.input_value("#answer-text")
    assert filled.strip() and "{{" not in filled and "{%" not in filled, f"the template {names[0]} gave {filled!r}"
    return str(names[0])


def signed(day: Day, text: str, where: str) -> None:
    """Policy 8: the answer carries the employee's name, surname and position, closing in the
    client's language (Latvian here)."""
    if any(part not in text for part in (EMPLOYEE_NAME, EMPLOYEE_POSITION, "Ar cieņu")):
        day.pending.append(
            f"the answer {where} is not signed 'Ar cieņu, {EMPLOYEE_NAME}, {EMPLOYEE_POSITION}': {text!r}"
        )


def answers_whatsapp_with_a_template(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    ref = day.refs["whatsapp"]
    page.goto(f"{day.base}/dashboard/inquiries/{ref}")
    use_a_template(page)
    written = page.input_value("#answer-text").strip()
    shoot(day, page, "answer-template")
    page.click("#answer")
    expect(page.locator("#done")).to_be_visible()
    assert day.inquiry(ref).status == "answered"
    (row,) = day.outbox(kind="client_answer", channel="whatsapp")
    text = row.payload["text"]
    assert row.payload["to"] == WHATSAPP, row.payload
    assert all(line.strip() in text for line in written.splitlines()), (written, text)
    sent = wait_until(
        lambda: [r["form"] for r in day.api.requests if r["form"].get("Body") == text],
        what="the answer at the fake Twilio",
    )
    assert sent[0]["To"] == f"whatsapp:{WHATSAPP}", sent
    signed(day, text, "on WhatsApp")


def marks_one_waiting(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    ref = day.refs["waiting"]
    page.goto(f"{day.base}/dashboard/inquiries/{ref}")
    page.click("#wait")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#resume")).to_be_visible()
    assert day.inquiry(ref).status == "waiting_client"


def answers_by_mail_and_closes_the_thanks(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    ref = day.refs["email"]
    page.goto(f"{day.base}/dashboard/inquiries/{ref}")
    page.fill("#answer-text", "Labdien! Atkritumus no Brīvības ielas 12 izvedīsim ceturtdien, 12.03.")
    page.click("#answer")
    expect(page.locator("#done")).to_be_visible()

    def answer_mail() -> list[Any]:
        return [m for m in day.relay.clients() if "izvedīsim ceturtdien" in m.get_body(("plain",)).get_content()]

    (answer,) = wait_until(answer_mail, what="the answer at the relay")
    assert answer["To"].addresses[0].addr_spec == "anna.liepa@client.example"
    signed(day, answer.get_body(("plain",)).get_content(), "by e-mail")

    # The client's thank-you, a reply to the answer, reopens the inquiry; it is closed without a word.
    thanks = client_mail(ANNA, f"Re: {answer['Subject']}", "Paldies!", in_reply_to=str(answer["Message-ID"]))
    day.mail(thanks)
    wait_until(lambda: day.inquiry(ref).status == "open", what="the thank-you reopening the inquiry")
    day.settled()
    page.goto(f"{day.base}/dashboard/inquiries/{ref}")
    expect(page.locator("#timeline")).to_contain_text("Paldies!")
    to_clients = [r.id for r in day.outbox() if not r.recipient.endswith("@example.lv")]
    # Shown as a thank-you, with its one-click close (reason "no answer needed").
    page.locator('form:has(input[type="hidden"][name="reason"][value="no_answer_needed"]) button').click()
    expect(page.locator("#done")).to_be_visible()
    assert day.inquiry(ref).status == "closed"
    assert [r.id for r in day.outbox() if not r.recipient.endswith("@example.lv")] == to_clients, "wrote to the client"


def logs_a_visit(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{day.base}/dashboard/inquiries")
    page.click("#to-interaction")
    expect(page).to_have_url(f"{day.base}/dashboard/interactions")
    page.check('input[name="channel"][value="visit"]')
    page.fill("#client-name", "Marta Kalēja")
    page.fill("#client-email", "marta.kaleja@client.example")
    page.fill("#interaction-text", "Klātienē jautāja, kad izvedīs lielgabarīta atkritumus no Tērbatas ielas 5.")
    page.select_option("#interaction-topic", "atkritumi")
    page.check("#suggested-written")
    shoot(day, page, "interaction")
    page.click("#log-interaction")
    expect(page).to_have_url(re.compile(r"/dashboard/inquiries/GK-\d{4}-\d{6}\?done=logged$"))
    ref = page.url.rsplit("/", 1)[1].split("?")[0]
    day.refs["visit"] = ref
    visit = day.inquiry(ref)
    assert visit.channel == "visit" and day.employee_of(ref) == EMPLOYEE
    written = day.outbox(kind="client_written_form", inquiry_id=visit.id)
    assert [r.recipient for r in written] == ["marta.kaleja@client.example"], written


# --- Friday: the coordinator, the board, and the named specialist ------------------------------


def supervisor_reassigns_an_overdue_one(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    ref = day.refs["overdue"]
    shoot(day, page, "overview")
    page.locator('[data-figure="total:all:overdue"] a').click()
    expect(page).to_have_url(re.compile(r"/dashboard/inquiries\?.*figure=overdue"))
    row = page.locator(f'#inquiries tr[data-reference="{ref}"]')
    expect(row).to_have_class(re.compile(r"\boverdue\b"))
    for name in ("email", "whatsapp", "waiting", "complaint"):  # closed, answered, waiting, the board's
        expect(page.locator(f'tr[data-reference="{day.refs[name]}"]')).to_have_count(0)
    expect(page.locator("#inquiries tr[data-reference]:not(.overdue)")).to_have_count(0)
    shoot(day, page, "overdue-list")

    row.get_by_role("link", name=ref).click()
    expect(page).to_have_url(f"{day.base}/dashboard/inquiries/{ref}")
    page.select_option("#reassign-employee", DEPUTY)
    page.fill("#reassign-reason", "Kalniņam šodien izbraukums, Petrova pārņem.")
    page.click("#reassign")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#employee")).to_contain_text(DEPUTY)
    expect(page.locator("#timeline .reassigned")).to_contain_text("→")
    expect(page.locator("#timeline .reassigned")).to_contain_text("Kalniņam šodien izbraukums, Petrova pārņem.")
    assert day.employee_of(ref) == DEPUTY
    page.context.close()


def board_opens_the_complaint(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    ref = day.refs["complaint"]
    page.click("#to-list")
    row = page.locator(f'#inquiries tr[data-reference="{ref}"]')
    row.get_by_role("link", name=ref).click()
    expect(page).to_have_url(f"{day.base}/dashboard/inquiries/{ref}")
    expect(page.locator("#timeline")).to_contain_text("Jānis Kalniņš bija rupjš")
    shoot(day, page, "complaint")
    page.context.close()


def named_employee_cannot_find_the_complaint(day: Day, page: Any) -> None:
    from playwright.sync_api import expect

    ref = day.refs["complaint"]
    page.goto(f"{day.base}/dashboard/inquiries?employee=")  # everything the employee may see
    expect(page.locator(f'#inquiries tr[data-reference="{day.refs["email"]}"]')).to_be_visible()
    expect(page.locator(f'tr[data-reference="{ref}"]')).to_have_count(0)
    for words in ("izvesti", "rupjš", "Sūdzība", "Kļava"):  # the complaint's text, subject, client
        page.fill("#filter-q", words)
        page.click("#filter")
        expect(page).to_have_url(re.compile(r"[?&]q="))
        expect(page.locator(f'tr[data-reference="{ref}"]')).to_have_count(0)
    expect(page.locator(f'#inquiries tr[data-reference="{day.refs["email"]}"]')).to_have_count(0)
    page.fill("#filter-q", "izvesti")  # the search works: the e-mail inquiry says it too
    page.click("#filter")
    expect(page.locator(f'#inquiries tr[data-reference="{day.refs["email"]}"]')).to_be_visible()
    response = page.goto(f"{day.base}/dashboard/inquiries/{ref}")
    assert response is not None and response.status == 404
    expect(page.locator("#problem")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("rupjš")
    page.context.close()
