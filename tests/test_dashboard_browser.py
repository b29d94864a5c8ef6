"""The dashboard in a real headless Chromium (the Debian package, driven by Playwright): log in,
see the overdue inquiry, open it, reassign it through the form, see the change; no script of a
client's ever runs, and the Content-Security-Policy is never violated.

Chromium must be at /usr/bin/chromium (`.ci/run` installs the `chromium` package); without it
this test fails, it does not skip: a dashboard nobody opened in a browser is not tested.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_helpers import NOW, PASSWORD, Clock, give_passwords, seed
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# What works as root on a closed network (shared/notes/test-servers.md).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _keep(shot: Path) -> Path:
    """A copy under tests/artifacts/ (ignored by git), where CI can pick it up."""
    ARTIFACTS.mkdir(exist_ok=True)
    kept = ARTIFACTS / shot.name
    shutil.copyfile(shot, kept)
    return kept


@pytest.mark.slow  # starts Chromium
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_log_in_see_overdue_and_reassign_in_chromium(make_settings: Any, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` (.ci/run does)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("the `playwright` package is missing: pip install -e '.[test]'")

    clock = Clock(NOW)
    with running_service(settings_with_admin(make_settings), clock=clock) as service:
        give_passwords(service.sessions, "koordinatore")
        refs = seed(service.sessions)
        overdue = refs["C"]  # due 2026-03-11 09:00, now 10:00; its subject and client carry scripts
        base = f"http://127.0.0.1:{service.http_port}"
        dialogs: list[str] = []
        csp_violations: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.on("console", lambda m: "Content Security Policy" in m.text and csp_violations.append(m.text))

                # Not logged in: the dashboard sends to the login page, and back after it.
                page.goto(base + "/dashboard")
                expect(page).to_have_url(f"{base}/dashboard/login?next=%2Fdashboard")
                page.fill("#employee", "koordinatore")
                page.fill("#password", PASSWORD)
                page.click("#login")
                expect(page).to_have_url(f"{base}/dashboard")

                row = page.locator(f'#due tr.overdue[data-reference="{overdue}"]')
                expect(row).to_be_visible()
                expect(row).to_contain_text("nokavēts")
                expect(row).to_contain_text("<script>alert(1)</script>")  # shown as text
                expect(page.locator("svg.chart rect")).to_have_count(8)  # the default period: 8 ISO weeks
                shot = tmp_path / "dashboard.png"
                page.screenshot(path=str(shot), full_page=True)

                row.get_by_role("link", name=overdue).click()
                expect(page).to_have_url(f"{base}/dashboard/inquiries/{overdue}")
                expect(page.locator("#employee")).to_have_text("Jānis Kalniņš (atkritumi-1)")
                expect(page.locator("#client")).to_contain_text('"><img src=x onerror=alert(1)>')
                expect(page.locator("#timeline img")).to_have_count(0)

                page.select_option("#reassign-employee", "atkritumi-2")
                page.fill("#reassign-reason", "Aizvieto kolēģi")
                page.click("#reassign")
                expect(page.locator("#done")).to_be_visible()
                expect(page.locator("#employee")).to_have_text("Olga Petrova (atkritumi-2)")
                expect(page.locator("#timeline")).to_contain_text("Jānis Kalniņš → Olga Petrova: Aizvieto kolēģi")
                inquiry_shot = tmp_path / "inquiry.png"
                page.screenshot(path=str(inquiry_shot), full_page=True)

                # Back on the overview it is no longer among the overdue: reassigned late, it got a new
                # date (the next working day's end), and the missed one stays Kalniņš's.
                page.goto(base + "/dashboard")
                expect(page.locator(f'#due tr[data-reference="{overdue}"]')).to_have_count(0)

                page.click("header form.logout button")
                expect(page).to_have_url(f"{base}/dashboard/login")
                page.goto(base + f"/dashboard/inquiries/{overdue}")
                expect(page.locator("#login")).to_be_visible()
            finally:
                browser.close()
    print(f"\nscreenshots: {shot} {inquiry_shot} (copies: {_keep(shot)} {_keep(inquiry_shot)})")
    assert dialogs == [], f"a client's script ran: {dialogs}"
    assert csp_violations == [], csp_violations
