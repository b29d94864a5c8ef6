"""The API's documentation pages work on a closed network (issue 12): /docs (Swagger UI) and /redoc
load their scripts, stylesheet and icon from this service (the fastapi-offline package ships them),
never from a CDN, and /docs really shows the operations in a Chromium that cannot reach anything but
127.0.0.1.

Over real HTTP against the running service; the browser test needs /usr/bin/chromium (the Debian
package, as tests/test_dashboard_browser.py) and fails, not skips, without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support import running_service

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# The flags of tests/test_dashboard_browser.py, and every host name but 127.0.0.1 unresolvable: the
# browser is offline whatever network the machine has.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-domain-reliability",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]  # fmt: skip
PAGES = ("/docs", "/redoc")
# What an asset must be served as, by its file's ending.
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}
# Attributes that make a browser fetch something (or navigate to it).
URL_ATTRIBUTES = {"src", "href", "spec-url", "action", "srcset", "data", "poster"}


class _Urls(HTMLParser):
    """Every URL in an attribute of the page, with its tag and attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value is not None:
                self.found.append((tag, name, value))


def urls_of(page: str) -> list[tuple[str, str, str]]:
    parser = _Urls()
    parser.feed(page)
    parser.close()
    return parser.found


@pytest.fixture
def base(make_settings: Any) -> Iterator[str]:
    with running_service(make_settings()) as service:
        yield f"http://127.0.0.1:{service.http_port}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_docs_pages_load_only_same_origin_assets(base: str) -> None:
    origin = urlsplit(base)
    with httpx.Client(base_url=base, timeout=30) as http:
        schema = http.get("/openapi.json")
        assert schema.status_code == 200
        assert "/api/v1/inquiries" in schema.json()["paths"]

        assets: set[str] = set()
        for path in PAGES:
            page = http.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html"), path
            assert page.headers["content-security-policy"].startswith("default-src 'self';"), path
            # No address of another site anywhere on the page, not even in its inline script.
            assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.text), page.text
            found = urls_of(page.text)
            assert any(tag == "script" for tag, _, _ in found), f"{path} loads no script: {page.text}"
            for tag, attribute, value in found:
                url = urlsplit(urljoin(base + path, value))
                assert (url.scheme, url.netloc) == (origin.scheme, origin.netloc), (
                    f"{path}: <{tag} {attribute}={value}>"
                )
                if attribute != "spec-url":
                    assets.add(url.path)
        # Swagger UI never asks validator.swagger.io about the schema's address.
        assert '"validatorUrl": null' in http.get("/docs").text

        assert {Path(a).suffix for a in assets} == {".js", ".css", ".png"}, assets
        for asset in sorted(assets):
            answer = http.get(asset)
            assert answer.status_code == 200, asset
            media_type = answer.headers["content-type"].split(";")[0].strip()
            assert media_type in CONTENT_TYPES[Path(asset).suffix], (asset, media_type)
            assert len(answer.content) > 1000, asset
        bundles = {Path(a).name: http.get(a).text for a in assets if a.endswith(".js")}
        assert "SwaggerUIBundle" in bundles["swagger-ui-bundle.js"]
        assert "Redoc" in bundles["redoc.standalone.js"]

        # The OAuth2 redirect page Swagger UI points at is there too.
        assert http.get("/docs/oauth2-redirect").status_code == 200


@pytest.mark.slow  # starts Chromium
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_docs_render_the_operations_in_an_offline_chromium(base: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` (.ci/run does)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("the `playwright` package is missing: pip install -e '.[test]'")

    origin = urlsplit(base)
    requested: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    refused: list[str] = []
    answered: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requested.append(r.url))
            page.on("response", lambda r: answered.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))

            page.goto(base + "/docs")
            # Swagger UI built the page from /openapi.json: one block per operation, with its path.
            path = page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/v1/inquiries$"))
            expect(path.first).to_be_visible(timeout=30_000)
            expect(page.locator(".opblock-tag-section").first).to_be_visible()
            assert page.locator(".opblock").count() > 5
            page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=False)

            page.goto(base + "/redoc")
            # ReDoc's menu and the operation's path, rendered from the same schema.
            expect(page.locator("h1", has_text="Inquiry service").first).to_be_visible(timeout=30_000)
            page.wait_for_function("() => document.body.textContent.includes('/api/v1/inquiries')", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "redoc.png"), full_page=False)
        finally:
            browser.close()

    # What the page asked of another site was refused by the pages' Content-Security-Policy before it left
    # the browser (ReDoc's sidebar shows Redocly's logo from their CDN; the picture hides itself).
    def elsewhere(url: str) -> bool:
        # blob: URLs (ReDoc's search worker) are made in the page itself.
        return urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != origin.netloc

    for url in filter(elsewhere, requested):
        assert any(f.startswith(f"{url}: ") and "csp" in f.lower() for f in failed), (url, failed)
    assert not any(map(elsewhere, answered)), answered
    ours = [f for f in failed if not elsewhere(f)]
    assert ours == [], f"the service's own files failed: {ours}"
    assert all(base not in m for m in refused), f"the policy refused the service's own files: {refused}"
    assert errors == [], errors
