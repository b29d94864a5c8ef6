"""The list "Automātiskās vēstules" in a real headless Chromium (issue 14): reached from the
inquiry list, a kept newsletter shown with its reason, a click opens an inquiry from it; the
Content-Security-Policy is never violated. Chromium at /usr/bin/chromium, as test_dashboard_browser."""

from __future__ import annotations

import smtplib
from pathlib import Path
from typing import Any

import pytest

from storage.models import Inquiry
from tests.dashboard_helpers import PASSWORD, give_passwords
from tests.smtp_helpers import PUBLIC, rows
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service, wait_until
from tests.test_automatic_mail_list import NEWSLETTER, _one_receipt
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, _keep


@pytest.mark.slow  # starts Chromium
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_open_an_inquiry_from_kept_automatic_mail_in_chromium(make_settings: Any, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium`")
    from playwright.sync_api import expect, sync_playwright

    settings = settings_with_admin(make_settings, email={"never_inquiry_senders": ["*@zinas.example.lv"]})
    with running_service(settings) as service:
        give_passwords(service.sessions, "koordinatore")
        with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=10) as smtp:
            smtp.sendmail("bounce@zinas.example.lv", [PUBLIC], NEWSLETTER)
        kept = _one_receipt(service)
        base = f"http://127.0.0.1:{service.http_port}"
        csp_violations: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})

                def on_console(message: Any) -> None:
                    if "Content Security Policy" in message.text:
                        csp_violations.append(message.text)

                page.on("console", on_console)
                page.goto(base + "/dashboard/login?next=%2Fdashboard%2Finquiries")
                page.fill("#employee", "koordinatore")
                page.fill("#password", PASSWORD)
                page.click("#login")
                page.click("#to-automatic")
                expect(page).to_have_url(f"{base}/dashboard/automatic")
                row = page.locator(f"#automatic-{kept.id}")
                expect(row).to_contain_text("Jaunumi martā")
                expect(row).to_contain_text("info@zinas.example.lv")
                expect(row).to_contain_text("never_inquiry_senders")
                shot = tmp_path / "automatic.png"
                page.screenshot(path=str(shot), full_page=True)
                _keep(shot)
                page.click(f"#open-{kept.id}")
                expect(page.locator("#done")).to_be_visible()
            finally:
                browser.close()
        (inquiry,) = wait_until(lambda: rows(service, Inquiry), what="the inquiry opened from the newsletter")
    assert inquiry.subject == "Jaunumi martā"
    assert csp_violations == []
