"""The dashboard on a phone (issue 12): at 390 × 844 CSS pixels the login page, the overview and an
inquiry fit the screen's width. Wide tables scroll sideways inside their own box, forms and buttons
fit, and the page itself never scrolls sideways (nor hides what sticks out).

In the Debian Chromium (/usr/bin/chromium) through Playwright, as tests/test_dashboard_browser.py;
screenshots go to tests/artifacts/ (ignored by git).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_helpers import NOW, PASSWORD, SEEDS, Clock, Seed, give_passwords, seed
from tests.support import running_service

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# The flags of tests/test_dashboard_browser.py (root, closed network).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
WIDTH, HEIGHT = 390, 844  # an iPhone 12 to 15's screen in CSS pixels

# What phone users meet in real inquiries: a long subject, a pasted link and no spaces to break at.
LINK = "https://www.example.lv/klientiem/atkritumu-izvesana/grafiks?adrese=Brivibas-iela-12-LV-1010&menesis=2026-03"
LONG = Seed(
    "L", "atkritumi-1", "email", "atkritumi", "question", "2026-03-10 11:00", "2026-03-11 09:30",
    subject="Konteiners pie Brīvības ielas 12 netiek izvests jau trešo nedēļu pēc kārtas, lūdzu atbildiet",
    client="Anna-Marija Bērziņa-Kalniņa-Ozoliņa", text=f"Labdien! Grafiks šeit: {LINK}\n{'x' * 150}",
)  # fmt: skip

# Everything the page's layout says about the width, measured in the browser.
MEASURE = """(width) => {
  const style = (e) => getComputedStyle(e);
  const scrolls = (e) => ['auto', 'scroll'].includes(style(e).overflowX);
  const inScroller = (e) => {
    for (let p = e.parentElement; p; p = p.parentElement) { if (scrolls(p)) return true; }
    return false;
  };
  const describe = (e) => {
    const classes = typeof e.className === 'string' ? e.className.trim().split(/\\s+/).filter(Boolean) : [];
    return [e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''), ...classes].join('.');
  };
  const outside = [], seen = new Set();  // the outermost elements that stick out, not their insides
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > width + 0.5 || r.left < -0.5) && !inScroller(e)) {
      seen.add(e);
      if (!seen.has(e.parentElement)) outside.push(`${describe(e)} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  const tables = [...document.querySelectorAll('main table')].map((t) => ({
    id: describe(t), right: t.getBoundingClientRect().right, overflowX: style(t).overflowX,
    scrollWidth: t.scrollWidth, clientWidth: t.clientWidth,
  }));
  const controls = [...document.querySelectorAll('input:not([type=hidden]), select, button, textarea')].map((e) => {
    const r = e.getBoundingClientRect();
    return {id: describe(e), left: r.left, right: r.right, width: r.width};
  });
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth,
    overflowX: [style(document.documentElement).overflowX, style(document.body).overflowX],
    outside, tables, controls,
  };
}"""


def check_fits(page: Any, name: str) -> dict[str, Any]:
    """The page fits WIDTH; returns the measurements. A full-page screenshot is kept either way."""
    page.screenshot(path=str(ARTIFACTS / f"narrow-{name}.png"), full_page=True)
    m: dict[str, Any] = page.evaluate(MEASURE, WIDTH)
    # Not by hiding the overflow: what is wider than the screen must be reachable.
    assert m["overflowX"] == ["visible", "visible"], f"{name}: the page hides its overflow: {m['overflowX']}"
    assert m["scrollWidth"] <= WIDTH, f"{name}: the page scrolls sideways ({m['scrollWidth']} px): {m['outside']}"
    # A phone widens the layout to what sticks out (and zooms out): it did not.
    assert m["innerWidth"] == WIDTH, f"{name}: the layout is {m['innerWidth']} px wide: {m['outside']}"
    assert m["outside"] == [], f"{name}: sticking out of the screen: {m['outside']}"
    for table in m["tables"]:
        assert table["right"] <= WIDTH + 0.5, f"{name}: {table}"
        if table["scrollWidth"] > table["clientWidth"]:
            assert table["overflowX"] in ("auto", "scroll"), f"{name}: a table wider than its box is cut: {table}"
    for control in m["controls"]:
        assert control["left"] >= 0 and control["right"] <= WIDTH + 0.5, f"{name}: {control}"
    return m


@pytest.mark.slow  # starts Chromium
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dashboard_fits_a_phone_screen(make_settings: Any) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` (.ci/run does)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("the `playwright` package is missing: pip install -e '.[test]'")

    ARTIFACTS.mkdir(exist_ok=True)
    with running_service(make_settings(), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "atkritumi-1")
        long = seed(service.sessions, (*SEEDS, LONG))["L"]  # overdue: due 09:30, now 10:00
        base = f"http://127.0.0.1:{service.http_port}"
        csp_violations: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(
                    viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=2, is_mobile=True, has_touch=True
                )
                page = context.new_page()
                page.on("console", lambda m: "Content Security Policy" in m.text and csp_violations.append(m.text))

                page.goto(base + "/dashboard/login")
                check_fits(page, "login")
                page.fill("#employee", "atkritumi-1")  # the responsible one: every form of the inquiry
                page.fill("#password", PASSWORD)
                page.click("#login")
                expect(page).to_have_url(f"{base}/dashboard")

                overview = check_fits(page, "overview")
                # The figures' tables are wider than a phone: they scroll inside their own box.
                scrolling = [t for t in overview["tables"] if t["scrollWidth"] > t["clientWidth"]]
                assert scrolling, f"no table needed to scroll at {WIDTH} px: {overview['tables']}"
                due = page.locator("#due")
                due.evaluate("(t) => { t.scrollLeft = t.scrollWidth; }")
                assert due.evaluate("(t) => t.scrollLeft") > 0, "the due table does not scroll sideways"
                due.evaluate("(t) => { t.scrollLeft = 0; }")
                # The chart shrinks to the screen and keeps its proportions.
                chart = page.locator("svg.chart").bounding_box()
                assert chart is not None and chart["width"] <= WIDTH and chart["height"] > 0.2 * chart["width"], chart

                row = page.locator(f'#due tr[data-reference="{long}"]')
                expect(row).to_be_visible()
                row.get_by_role("link", name=long).click()
                expect(page).to_have_url(f"{base}/dashboard/inquiries/{long}")
                expect(page.locator("#timeline")).to_contain_text(LINK)
                expect(page.locator("#reassign")).to_be_visible()
                check_fits(page, "inquiry")
            finally:
                browser.close()
    assert csp_violations == [], csp_violations
