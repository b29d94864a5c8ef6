"""The supervisor's dashboard and ``ingest report`` (issue 6): figures against hand-computed ones,
the page and the CSV agreeing, roles, login, sessions, CSRF, the login limit, escaping, audit
rows; over real HTTP against the running service, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from ingest.api.auth import Principal
from ingest.assembly import sync_employees
from ingest.cli import main as cli_main
from ingest.dashboard.figures import Period, office_figures
from ingest.dashboard.passwords import hash_password, verify_password
from ingest.dashboard.report import report_csv
from ingest.inquiries.access import visible
from storage.db import make_engine, migrate, session_factory
from storage.models import Employee, Event, Inquiry, Outbox
from storage.staff_models import AuditLog, Role
from tests.dashboard_helpers import (
    NOW,
    PASSWORD,
    PERIOD,
    RIGA,
    XSS_ATTR,
    XSS_SCRIPT,
    Clock,
    csrf_of,
    figures_on_page,
    give_passwords,
    login,
    report_table,
    seed,
)
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service, write_config

KEYS = {"employee": "atkritumi-1", "supervisor": "koordinatore", "board": "valde", "admin": "it-admin"}
SECURITY = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}

# The figures of tests/dashboard_helpers.SEEDS at NOW over PERIOD, worked out by hand:
# open, overdue, received, answered, answered_on_time, missed, share_on_time.
HAND = {
    ("total", f"{PERIOD[0]}/{PERIOD[1]}"): (4, 2, 6, 3, 2, 2, "0.500"),
    ("employee", "atkritumi-1"): (2, 2, 3, 2, 1, 2, "0.333"),
    ("employee", "siltums"): (2, 0, 2, 0, 0, 0, ""),
    ("employee", "valde"): (0, 0, 1, 1, 1, 0, "1.000"),
    ("channel", "email"): (3, 2, 4, 2, 2, 1, "0.667"),
    ("channel", "whatsapp"): (0, 0, 1, 1, 0, 1, "0.000"),
    ("channel", "phone"): (1, 0, 1, 0, 0, 0, ""),
    ("topic", "atkritumi"): (2, 2, 4, 3, 2, 2, "0.500"),
    ("topic", "siltums"): (2, 0, 2, 0, 0, 0, ""),
    ("kind", "question"): (2, 2, 2, 1, 1, 1, "0.500"),
    ("kind", "request"): (1, 0, 2, 1, 0, 1, "0.000"),
    ("kind", "complaint"): (0, 0, 1, 1, 1, 0, "1.000"),
    ("kind", "suggestion"): (1, 0, 1, 0, 0, 0, ""),
    ("week", "2026-W10"): (0, 0, 3, 3, 2, 1, "0.667"),
    ("week", "2026-W11"): (0, 0, 3, 0, 0, 1, "0.000"),
    ("complaint", "GK-2026-000005"): (0, 0, 1, 1, 1, 0, "1.000"),
    ("suggestion", "GK-2026-000006"): (1, 0, 1, 0, 0, 0, ""),
}
FIGURES = ("open", "overdue", "received", "answered", "answered_on_time", "missed", "share_on_time")


def _period() -> Period:
    return Period(date.fromisoformat(PERIOD[0]), date.fromisoformat(PERIOD[1]))


def _as_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(int(row[f]) if f != "share_on_time" else row[f] for f in FIGURES)


@contextmanager
def _office(make_settings: Any, clock: Clock, **sections: Any) -> Iterator[tuple[Any, dict[str, str]]]:
    settings = settings_with_admin(make_settings, **sections)
    with running_service(settings, clock=clock) as service:
        give_passwords(service.sessions, *KEYS.values())
        yield service, seed(service.sessions)


def _base(service: Any) -> str:
    return f"http://127.0.0.1:{service.http_port}"


def _audit(service: Any, action: str) -> list[AuditLog]:
    with service.sessions() as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == action).order_by(col(AuditLog.id))).all())


# -- the figures ------------------------------------------------------------------------------------


def test_passwords_are_salted_scrypt() -> None:
    one, two = hash_password(PASSWORD), hash_password(PASSWORD)
    assert one != two and one.startswith("scrypt$16384$8$1$") and PASSWORD not in one
    assert verify_password(PASSWORD, one) and not verify_password(PASSWORD + "x", one)
    assert not verify_password(PASSWORD, None) and not verify_password(PASSWORD, "scrypt$garbage")


def test_figures_and_report_match_hand_computed(make_settings: Any, database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        sync_employees(sessions, make_settings())
        refs = seed(sessions)
        period = _period()
        with sessions() as session:
            figures = office_figures(session, period=period, now=NOW, tz=RIGA)
            table = report_table(report_csv(figures))
            # The supervisor's and the employee's views: the same figures without what they may not see.
            ids = {e.key: e.id for e in session.exec(select(Employee)).all()}
            views = {}
            for role, key in (("supervisor", "koordinatore"), ("employee", "atkritumi-1")):
                principal = Principal(employee_id=ids[key], key=key, role=Role(role), token_id=0, remote_addr=None)
                where = visible(principal, session.get_bind().dialect.name)
                views[role] = office_figures(session, period=period, now=NOW, tz=RIGA, where=where)
    finally:
        engine.dispose()
    assert {k: _as_tuple(v) for k, v in table.items()} == HAND
    assert refs["E"] == "GK-2026-000005" and refs["F"] == "GK-2026-000006"
    # No client text in the CSV: identifiers only.
    assert "Sūdzība" not in report_csv(figures) and "Ierosinājums" not in report_csv(figures)
    supervisor = views["supervisor"]
    assert (supervisor.total.received, supervisor.total.answered_on_time) == (5, 1)  # without the complaint E
    assert [f.kind for f in supervisor.feedback] == ["suggestion"]
    mine = views["employee"]
    assert [r.key for r in mine.by_employee] == ["atkritumi-1"] and mine.total.open == 2 and mine.feedback == []


def test_report_and_password_commands(tmp_path: Path, database_url: str, monkeypatch: Any) -> None:
    config = write_config(tmp_path, database_url)
    # `ingest password set` from stdin (it also creates the employee rows on a new database).
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli_main(["password", "set", "valde", "--stdin", "--config", str(config), "--actor", "tester"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli_main(["password", "set", "valde", "--stdin", "--config", str(config)]) == 1
    engine = make_engine(database_url)
    try:
        sessions = session_factory(engine)
        with sessions() as session:
            valde = session.exec(select(Employee).where(Employee.key == "valde")).one()
            assert verify_password(PASSWORD, valde.password_hash)
            logged = session.exec(select(AuditLog).where(AuditLog.action == "employee.password_set")).one()
            assert logged.actor == "tester" and PASSWORD not in json.dumps(logged.detail)
        seed(sessions)
    finally:
        engine.dispose()
    out = tmp_path / "report.csv"
    assert cli_main(["report", "--from", PERIOD[0], "--to", PERIOD[1], "--out", str(out), "--config", str(config)]) == 0
    table = report_table(out.read_text(encoding="utf-8"))
    # Run now (after the period): what was received and answered is as by hand; open and overdue
    # are as of today, when D's deadline has passed too.
    for key, figures in HAND.items():
        assert key in table, key
        assert _as_tuple(table[key])[2:5] == figures[2:5], key
    assert _as_tuple(table[("total", f"{PERIOD[0]}/{PERIOD[1]}")]) == (4, 3, 6, 3, 2, 3, "0.400")
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert cli_main(["report", "--from", PERIOD[0], "--to", PERIOD[1], "--config", str(config)]) == 0
    assert buffer.getvalue().splitlines()[0].startswith("section,key,label,open,overdue")
    assert cli_main(["report", "--from", PERIOD[1], "--to", PERIOD[0], "--config", str(config)]) == 2


def test_dashboard_and_report_agree(make_settings: Any) -> None:
    clock = Clock(NOW)
    with _office(make_settings, clock) as (service, _refs):
        client, response = login(_base(service), "valde")
        assert response.status_code == 303, response.text
        page = client.get("/dashboard", params={"from": PERIOD[0], "to": PERIOD[1]})
        assert page.status_code == 200
        shown = figures_on_page(page.text)
        with service.sessions() as session:
            table = report_table(report_csv(office_figures(session, period=_period(), now=NOW, tz=RIGA)))
    compared = 0
    for (section, key), row in table.items():
        if section in ("complaint", "suggestion"):
            assert f'data-reference="{key}"' in page.text
            continue
        page_key = "total:all" if section == "total" else f"{section}:{key}"
        for figure in FIGURES:
            if section == "week" and figure in ("open", "overdue"):
                continue
            assert shown[f"{page_key}:{figure}"] == row[figure], (page_key, figure)
            compared += 1
    assert compared > 80
    assert {k: _as_tuple(v) for k, v in table.items()} == HAND


# -- roles ------------------------------------------------------------------------------------------


@pytest.mark.slow  # every page for every role
def test_permissions_per_role(make_settings: Any) -> None:
    clock = Clock(NOW)
    with _office(make_settings, clock) as (service, refs):
        base = _base(service)
        anonymous = httpx.Client(base_url=base, timeout=30)
        for path in ("/dashboard", f"/dashboard/inquiries/{refs['C']}"):
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/login?next="), (
                path
            )
        response = anonymous.post(
            f"/dashboard/inquiries/{refs['C']}/reassign", data={"employee": "siltums", "csrf": "x"}
        )
        assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/login")

        clients = {role: login(base, key)[0] for role, key in KEYS.items()}
        # (path, {role: status}); E is the complaint naming atkritumi-1, D is siltums's.
        reads = {
            "/dashboard": {"employee": 200, "supervisor": 200, "board": 200, "admin": 403},
            f"/dashboard/inquiries/{refs['C']}": {"employee": 200, "supervisor": 200, "board": 200, "admin": 403},
            f"/dashboard/inquiries/{refs['D']}": {"employee": 404, "supervisor": 200, "board": 200, "admin": 403},
            f"/dashboard/inquiries/{refs['E']}": {"employee": 404, "supervisor": 404, "board": 200, "admin": 403},
            "/dashboard/inquiries/GK-2026-999999": {"employee": 404, "supervisor": 404, "board": 404, "admin": 403},
        }
        for path, expected in reads.items():
            for role, status in expected.items():
                assert clients[role].get(path).status_code == status, (path, role)
        overview = {
            role: clients[role].get("/dashboard", params={"from": PERIOD[0], "to": PERIOD[1]}).text for role in KEYS
        }
        assert refs["E"] in overview["board"] and "Perioda sūdzības un ierosinājumi" in overview["board"]
        assert refs["E"] not in overview["supervisor"] and refs["F"] in overview["supervisor"]
        assert 'data-figure="employee:siltums:open"' not in overview["employee"]
        assert 'data-figure="employee:atkritumi-1:open"' in overview["employee"]

        # Reassigning: the employee their own (C), the supervisor what they see (D); the admin nothing;
        # the employee not someone else's (D: 404, as if it did not exist).
        def reassign(role: str, ref: str, to: str, why: str = "sooner") -> httpx.Response:
            # Every page of a logged-in user carries the session's token (the logout form), the admin's 403 too.
            csrf = csrf_of(clients[role].get("/dashboard").text)
            return clients[role].post(
                f"/dashboard/inquiries/{ref}/reassign",
                data={"employee": to, "reason": "", "reason_code": why, "csrf": csrf},
            )

        assert reassign("employee", refs["C"], "atkritumi-2", why="").status_code == 422, "policy 10.3: say why"
        assert reassign("employee", refs["D"], "atkritumi-2").status_code == 404
        assert reassign("admin", refs["C"], "atkritumi-2").status_code == 403
        assert reassign("employee", refs["C"], "atkritumi-2").status_code == 303
        assert reassign("supervisor", refs["D"], "koordinatore").status_code == 303
        assert reassign("supervisor", refs["D"], "nobody-such").status_code == 422
        with service.sessions() as session:
            owners = {
                i.reference: session.get(Employee, i.employee_id).key  # type: ignore[union-attr]
                for i in session.exec(select(Inquiry)).all()
            }
        assert owners[refs["C"]] == "atkritumi-2" and owners[refs["D"]] == "koordinatore"


# -- sessions, CSRF, the login limit ----------------------------------------------------------------


@pytest.mark.slow  # a running service, several logins
def test_csrf_logout_and_session_expiry(make_settings: Any) -> None:
    clock = Clock(NOW)
    with _office(make_settings, clock) as (service, refs):
        base = _base(service)
        client, response = login(base, "valde")
        cookie = response.headers["set-cookie"]
        assert (
            "gk_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        )
        assert "Secure" not in cookie and "Path=/dashboard" in cookie
        page = client.get(f"/dashboard/inquiries/{refs['C']}")
        csrf = csrf_of(page.text)
        # A form without the session's CSRF token changes nothing.
        for bad in ({}, {"csrf": "forged"}, {"csrf": csrf + "x"}):
            refused = client.post(f"/dashboard/inquiries/{refs['C']}/reassign", data={"employee": "atkritumi-2", **bad})
            assert refused.status_code == 403, bad
        # A JSON body is not a form: refused the same way.
        refused = client.post(
            f"/dashboard/inquiries/{refs['C']}/reassign", json={"employee": "atkritumi-2", "csrf": csrf}
        )
        assert refused.status_code == 403
        assert client.post("/dashboard/logout", data={"csrf": "forged"}).status_code == 403
        with service.sessions() as session:
            assert not session.exec(select(Event).where(Event.type == "reassigned")).all()
        # The login form also carries a token of its own (a cookie and a field that must match).
        stranger = httpx.Client(base_url=base, timeout=30)
        assert (
            stranger.post("/dashboard/login", data={"employee": "valde", "password": PASSWORD, "csrf": "x"}).status_code
            == 403
        )

        # Logout ends the session on the server: the old cookie is of no use afterwards.
        old_cookie = client.cookies.get("gk_session")
        out = client.post("/dashboard/logout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
        replay = httpx.Client(base_url=base, timeout=30, cookies={"gk_session": old_cookie or ""})
        assert replay.get("/dashboard").status_code == 303
        assert len(_audit(service, "dashboard.logout")) == 1

        # Idle for longer than 8 hours: logged out.
        client, _ = login(base, "valde")
        clock.advance(timedelta(hours=7, minutes=59))
        assert client.get("/dashboard").status_code == 200
        clock.advance(timedelta(hours=8, minutes=1))
        assert client.get("/dashboard").status_code == 303
        # Active all along, but 12 hours after the login: logged out too.
        client, _ = login(base, "valde")
        for _ in range(6):
            clock.advance(timedelta(hours=2))
            status = client.get("/dashboard").status_code
        assert status == 303


@pytest.mark.slow  # a running service, six logins
def test_login_rate_limit_is_audited_without_the_password(make_settings: Any) -> None:
    clock = Clock(NOW)
    with _office(make_settings, clock, http={"secure_cookies": True}) as (service, _refs):
        base = _base(service)
        for i in range(5):
            _, response = login(base, "valde", f"wrong password {i}")
            assert response.status_code == 401 and "Nepareizs lietotājvārds vai parole" in response.text
        _, response = login(base, "valde", PASSWORD)
        assert response.status_code == 429, "the 6th attempt within 15 minutes is refused, even with the right password"
        _, unknown = login(base, "typed-a-password-here", "whatever")
        assert unknown.status_code == 401
        clock.advance(timedelta(minutes=15, seconds=1))
        _, response = login(base, "valde", PASSWORD)
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]  # [http] secure_cookies = true
        failed = _audit(service, "dashboard.login_failed")
        assert [(a.actor, a.detail["reason"]) for a in failed] == [("valde", "wrong_password")] * 5 + [
            ("unknown", "unknown_employee")
        ]
        assert [a.actor for a in _audit(service, "dashboard.login_refused")] == ["valde"]
        assert [a.actor for a in _audit(service, "dashboard.login")] == ["valde"]
        with service.sessions() as session:
            everything = json.dumps([a.detail for a in session.exec(select(AuditLog)).all()], ensure_ascii=False)
        assert (
            "wrong password" not in everything
            and PASSWORD not in everything
            and "typed-a-password-here" not in everything
        )


# -- what the pages show, and how -------------------------------------------------------------------


def test_client_text_is_escaped_and_headers_are_set(make_settings: Any) -> None:
    clock = Clock(NOW)
    with _office(make_settings, clock) as (service, refs):
        base = _base(service)
        anonymous = httpx.get(base + "/dashboard/login", timeout=30)
        client, response = login(base, "valde")
        pages = {
            "login": anonymous,
            "login redirect": response,
            "overview": client.get("/dashboard"),
            "inquiry": client.get(f"/dashboard/inquiries/{refs['C']}"),
            "not found": client.get("/dashboard/inquiries/GK-2026-999999"),
            "bad period": client.get("/dashboard", params={"from": "2026-13-01"}),
            "css": client.get("/dashboard/static/dashboard.css"),
        }
        for name, page in pages.items():
            for header, value in SECURITY.items():
                assert page.headers.get(header) == value, (name, header)
            csp = page.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp, (
                name
            )
        assert pages["bad period"].status_code == 400 and pages["not found"].status_code == 404
        for name in ("overview", "inquiry"):
            text = pages[name].text
            assert XSS_SCRIPT not in text and XSS_ATTR not in text and "<img" not in text, name
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, name
            assert "<script" not in text.lower(), name
        inquiry = pages["inquiry"].text
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in inquiry  # the client's name, as text
        assert 'id="timeline"' in inquiry and "piešķirts" in inquiry and "nokavēts" in inquiry
        overview = pages["overview"].text
        assert "<svg" in overview and "W11" in overview and 'class="overdue"' in overview


@pytest.mark.slow  # a running service and several logins
def test_audit_rows_for_dashboard_reads_and_reassign(make_settings: Any) -> None:
    clock = Clock(NOW)
    with _office(make_settings, clock) as (service, refs):
        client, _ = login(_base(service), "koordinatore")
        page = client.get(f"/dashboard/inquiries/{refs['C']}")
        assert page.status_code == 200 and 'id="reassign"' in page.text
        done = client.post(
            f"/dashboard/inquiries/{refs['C']}/reassign",
            data={"employee": "atkritumi-2", "reason": "aizvieto", "csrf": csrf_of(page.text)},
            follow_redirects=True,
        )
        assert done.status_code == 200 and 'id="done"' in done.text
        assert '<td id="employee">Olga Petrova (atkritumi-2)</td>' in done.text
        client.get("/dashboard")
        with service.sessions() as session:
            inquiry = session.exec(select(Inquiry).where(Inquiry.reference == refs["C"])).one()
            reads = session.exec(select(AuditLog).where(AuditLog.action == "inquiry.read")).all()
            moved = session.exec(select(AuditLog).where(AuditLog.action == "inquiry.reassign")).one()
            overview = session.exec(select(AuditLog).where(AuditLog.action == "dashboard.overview")).one()
            event = session.exec(select(Event).where(Event.type == "reassigned")).one()
            redirect = session.exec(select(Outbox).where(Outbox.inquiry_id == inquiry.id)).all()
        assert len(reads) == 2 and all(r.inquiry_id == inquiry.id and r.actor == "koordinatore" for r in reads)
        assert reads[0].detail == {"token_id": None, "via": "dashboard", "reference": refs["C"]}
        assert reads[0].remote_addr == "127.0.0.1"
        assert moved.detail == {
            "token_id": None,
            "via": "dashboard",
            "reference": refs["C"],
            "from": "atkritumi-1",
            "to": "atkritumi-2",
        }
        assert event.actor == "koordinatore" and event.data["reason"] == "aizvieto"
        assert redirect, "the client's redirect notice and the new employee's notification are queued"
        # The overview logs the references it showed, not the clients' words. C was overdue: reassigned,
        # it is due again at the next working day's end and has left today's list (issue 16, item 5).
        assert inquiry.missed_due_at is not None and inquiry.due_at is not None and inquiry.due_at > NOW
        shown = overview.detail["references"]
        assert shown and refs["C"] not in shown and XSS_SCRIPT not in json.dumps(overview.detail)
