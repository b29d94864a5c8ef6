"""The staff API (issue 6): tokens, roles, the complaint rule, the audit log, answering, logging
calls and visits, lists and filters; over real HTTP against the running service."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from ingest.cli import main as cli_main
from storage.models import Employee, Event, Inquiry, Message, Outbox
from storage.staff_models import ApiToken, AuditLog
from tests.staff_api_helpers import HTML, PNG, Office, office, settings_with_admin
from tests.support import running_service, wait_until, write_config

ROLES = ("employee", "supervisor", "board", "admin")


def _error(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code is not None:
        assert body["error"]["code"] == code, body


def _attachment_id(o: Office, role: str, ref: str, content_type: str) -> int:
    response = o.call("GET", f"/api/v1/inquiries/{ref}", "board")
    assert response.status_code == 200, response.text
    detail = response.json()
    return next(a["id"] for m in detail["messages"] for a in m["attachments"] if a["content_type"] == content_type)


# -- the permission matrix: every endpoint x every role -----------------------------------------

# (name, method, path, json body, {role: expected status}). Run in this order on one office: the
# changes go to inquiries of the employee role's own, so each role's run starts from the same state.
INQ = ("employee", "supervisor", "board")


def _matrix(o: Office, absence_id: dict[str, int], token_id: int) -> list[tuple[str, str, str, Any, dict[str, int]]]:
    waste, waste2 = o.refs["waste"], o.refs["waste2"]
    everyone = dict.fromkeys(ROLES, 200)
    inquiries = {**dict.fromkeys(INQ, 200), "admin": 403}
    changes = {**dict.fromkeys(INQ, 200), "admin": 403}
    return [
        ("me", "GET", "/api/v1/me", None, everyone),
        ("list", "GET", "/api/v1/inquiries", None, inquiries),
        ("read", "GET", f"/api/v1/inquiries/{waste}", None, inquiries),
        ("attachment", "GET", f"/api/v1/inquiries/{waste}/attachments/{{png}}", None, inquiries),
        ("note", "POST", f"/api/v1/inquiries/{waste}/notes", {"text": "Piezvanīju klientam."},
         {**dict.fromkeys(INQ, 201), "admin": 403}),
        ("wait", "POST", f"/api/v1/inquiries/{waste}/waiting", {"waiting": True}, changes),
        ("resume", "POST", f"/api/v1/inquiries/{waste}/waiting", {"waiting": False}, changes),
        ("complexity", "POST", f"/api/v1/inquiries/{waste}/complexity", {"complexity": "simple"}, changes),
        # Only the responsible employee answers the client.
        ("answer", "POST", f"/api/v1/inquiries/{waste}/answer", {"text": "Izvedīsim rīt."},
         {"employee": 200, "supervisor": 403, "board": 403, "admin": 403}),
        ("reassign", "POST", f"/api/v1/inquiries/{waste2}/reassign", {"employee": "atkritumi-2", "reason": "aizvieto"},
         changes),
        ("interaction", "POST", "/api/v1/interactions",
         {"channel": "phone", "client_name": "Marta", "phone": "+37120000001", "text": "Jautā par konteinera izmēru."},
         {**dict.fromkeys(INQ, 201), "admin": 403}),
        ("absences", "GET", "/api/v1/absences", None, everyone),
        ("absence own", "POST", "/api/v1/absences",
         {"employee": "SELF", "starts_on": "2030-07-01", "ends_on": "2030-07-05", "reason": "leave"},
         dict.fromkeys(ROLES, 201)),
        ("absence other", "POST", "/api/v1/absences",
         {"employee": "nami", "starts_on": "2030-08-01", "ends_on": "2030-08-02", "reason": "sick"},
         {"employee": 403, "supervisor": 201, "board": 201, "admin": 201}),
        ("absence delete", "DELETE", "/api/v1/absences/{absence}", None, dict.fromkeys(ROLES, 204)),
        ("tokens", "GET", "/api/v1/tokens", None, {**dict.fromkeys(INQ, 403), "admin": 200}),
        ("token create", "POST", "/api/v1/tokens", {"employee": "it-admin", "name": "planšete"},
         {**dict.fromkeys(INQ, 403), "admin": 201}),
        # A token of someone who reads inquiries would hand their content to the administrator.
        ("token create, reader", "POST", "/api/v1/tokens", {"employee": "nami", "name": "x"},
         dict.fromkeys(ROLES, 403)),
        ("token revoke", "DELETE", f"/api/v1/tokens/{token_id}", None, {**dict.fromkeys(INQ, 403), "admin": 200}),
    ]  # fmt: skip


@pytest.mark.slow  # a seeded office per role and database, ~25 requests each
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(make_settings: Any, role: str) -> None:
    from tests.staff_api_helpers import ROLE_KEYS

    with office(settings_with_admin(make_settings)) as o:
        spare_token, _ = o.token_for("celi")
        png = _attachment_id(o, role, o.refs["waste"], "image/png")
        absence: dict[str, int] = {}
        wrong = []
        for name, method, path, body, expected in _matrix(o, absence, spare_token):
            path = path.replace("{png}", str(png)).replace("{absence}", str(absence.get("own", 0)))
            if isinstance(body, dict) and body.get("employee") == "SELF":
                body = {**body, "employee": ROLE_KEYS[role]}
            # Without a token, every endpoint answers 401 in the one error shape.
            _error(o.call(method, path, json=body), 401, "unauthorized")
            response = o.call(method, path, role, json=body)
            if response.status_code != expected[role]:
                wrong.append(f"{name}: {response.status_code} (expected {expected[role]}) {response.text[:200]}")
            elif response.status_code >= 400:
                _error(response, response.status_code)
            if name == "absence own" and response.status_code == 201:
                absence["own"] = response.json()["id"]
        assert not wrong, "\n".join(wrong)
        if role == "employee":
            # The employee's own view: only their inquiries, never the complaint naming them.
            listed = {i["reference"] for i in o.call("GET", "/api/v1/inquiries?limit=200", role).json()["items"]}
            assert o.refs["complaint"] not in listed and o.refs["heating"] not in listed
            assert o.refs["waste"] in listed
            assert o.refs["waste2"] in listed  # handled before: reassigned away from them
        me = o.call("GET", "/api/v1/me", role).json()
        assert me["key"] == ROLE_KEYS[role] and me["role"] == role


# -- the complaint rule ------------------------------------------------------------------------


@pytest.mark.slow  # a seeded office
def test_a_complaint_is_hidden_from_the_employee_it_names_even_when_assigned(make_settings: Any) -> None:
    with office(settings_with_admin(make_settings)) as o:
        ref = o.refs["complaint"]
        detail = o.call("GET", f"/api/v1/inquiries/{ref}", "board").json()
        assert detail["kind"] == "complaint" and detail["employee"] == "valde"
        named = next(e for e in detail["events"] if e["type"] == "routed")["data"]["facts"]["employees_named"]
        assert "atkritumi-1" in named

        def listed(role: str, query: str = "") -> set[str]:
            response = o.call("GET", f"/api/v1/inquiries?limit=200{query}", role)
            assert response.status_code == 200, response.text
            return {i["reference"] for i in response.json()["items"]}

        assert ref in listed("board") and ref in listed("board", "&q=RUPJ")
        # The supervisor sees everything but complaints; the named employee not even in a search.
        assert ref not in listed("supervisor") and o.refs["heating"] in listed("supervisor")
        assert ref not in listed("employee", "&q=rupj") and ref not in listed("employee", "&kind=complaint")
        _error(o.call("GET", f"/api/v1/inquiries/{ref}", "employee"), 404, "not_found")
        _error(o.call("GET", f"/api/v1/inquiries/{ref}", "supervisor"), 404)

        # The board cannot give it to the named employee, not even by mistake (the notice, the
        # reply address and the client's redirect notice would all reach him).
        moved = o.call(
            "POST", f"/api/v1/inquiries/{ref}/reassign", "board", json={"employee": "atkritumi-1", "reason": "x"}
        )
        assert moved.status_code == 409 and "names atkritumi-1" in moved.json()["error"]["message"]
        assert ref not in listed("employee")
        _error(o.call("GET", f"/api/v1/inquiries/{ref}", "employee"), 404)
        _error(o.call("POST", f"/api/v1/inquiries/{ref}/answer", "employee", json={"text": "x"}), 404)
        # An employee it does not name sees it once it is theirs.
        o.call("POST", f"/api/v1/inquiries/{ref}/reassign", "board", json={"employee": "siltums", "reason": "y"})
        assert ref in listed("other_employee")
        assert o.call("GET", f"/api/v1/inquiries/{ref}", "other_employee").status_code == 200
        # Another employee's inquiry stays hidden from the waste specialist.
        _error(o.call("GET", f"/api/v1/inquiries/{o.refs['heating']}", "employee"), 404)


# -- the audit log -----------------------------------------------------------------------------


@pytest.mark.slow  # a seeded office
def test_reads_and_changes_are_audited_with_identifiers_only(make_settings: Any) -> None:
    with office(settings_with_admin(make_settings)) as o:
        ref = o.refs["waste"]
        png = _attachment_id(o, "board", ref, "image/png")
        assert o.call("GET", "/api/v1/inquiries?q=atkritumi", "employee").status_code == 200
        assert o.call("GET", f"/api/v1/inquiries/{ref}", "employee").status_code == 200
        assert o.call("GET", f"/api/v1/inquiries/{ref}/attachments/{png}", "employee").status_code == 200
        assert (
            o.call(
                "POST", f"/api/v1/inquiries/{ref}/notes", "employee", json={"text": "Slepena piezīme 42"}
            ).status_code
            == 201
        )
        assert (
            o.call(
                "POST", f"/api/v1/inquiries/{ref}/reassign", "supervisor", json={"employee": "atkritumi-2"}
            ).status_code
            == 200
        )
        with o.service.sessions() as session:
            inquiry = session.exec(select(Inquiry).where(Inquiry.reference == ref)).one()
            rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        actions = [(r.actor, r.action) for r in rows]
        # The board's reads while setting up are there too.
        for expected in [
            ("atkritumi-1", "inquiry.list"),
            ("atkritumi-1", "inquiry.read"),
            ("atkritumi-1", "attachment.download"),
            ("atkritumi-1", "inquiry.note"),
            ("koordinatore", "inquiry.reassign"),
        ]:
            assert expected in actions, (expected, actions)
        by_action = {r.action: r for r in rows if r.actor != "valde"}
        assert by_action["inquiry.read"].inquiry_id == inquiry.id
        assert by_action["inquiry.read"].remote_addr == "127.0.0.1"
        assert by_action["attachment.download"].detail["attachment_id"] == png
        assert (
            by_action["inquiry.list"].detail["filters"] == ["q"]
            and ref in by_action["inquiry.list"].detail["references"]
        )
        assert by_action["inquiry.reassign"].detail["from"] == "atkritumi-1"
        everything = json.dumps([r.detail for r in rows], ensure_ascii=False)
        for secret in ("Slepena", "atkritumi no", "janis@client.example", "Ozoliņš"):
            assert secret not in everything


# -- tokens ------------------------------------------------------------------------------------


@pytest.mark.slow  # a seeded office
def test_tokens_from_the_cli_work_until_revoked_or_the_employee_leaves(
    make_settings: Any, tmp_path: Any, database_url: str, capsys: Any
) -> None:
    (tmp_path / "cli").mkdir()
    config = str(write_config(tmp_path / "cli", database_url))
    assert cli_main(["token", "create", "nami", "--name", "planšete", "--config", config]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("gk_") and len(secret) > 40
    assert cli_main(["token", "create", "nobody", "--config", config]) == 1
    with running_service(make_settings()) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        import httpx

        def me(token: str) -> httpx.Response:
            return httpx.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)

        assert me(secret).json()["key"] == "nami"
        _error(me("gk_" + "x" * 43), 401, "unauthorized")
        _error(httpx.get(base + "/api/v1/me", headers={"Authorization": "Basic abc"}, timeout=30), 401)
        with service.sessions() as session:
            row = session.exec(select(ApiToken)).one()
        assert row.token_hash != secret and secret not in row.token_hash and row.last_used_at is not None
        capsys.readouterr()
        assert cli_main(["token", "list", "--config", config]) == 0
        listing = capsys.readouterr().out
        assert "nami" in listing and "active" in listing and secret not in listing
        assert cli_main(["token", "revoke", str(row.id), "--config", config]) == 0
        _error(me(secret), 401)
        # An employee who is no longer active: their other tokens stop working too.
        assert cli_main(["token", "create", "celi", "--config", config]) == 0
        other = capsys.readouterr().out.strip().splitlines()[-1]
        assert me(other).status_code == 200
        with service.sessions() as session:
            celi = session.exec(select(Employee).where(Employee.key == "celi")).one()
            celi.active = False
            session.add(celi)
            session.commit()
        _error(me(other), 401)


# -- answering, attachments, the written-form message ------------------------------------------


def test_answer_reaches_the_client_and_marks_the_inquiry_answered(make_settings: Any, relay: Any) -> None:
    settings = settings_with_admin(
        make_settings, outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"}
    )
    with office(settings) as o:
        ref = o.refs["waste"]
        response = o.call(
            "POST", f"/api/v1/inquiries/{ref}/answer", "employee", json={"text": "Atkritumus izvedīsim rīt līdz 12:00."}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sent_on"] == "email" and body["inquiry"]["status"] == "answered"
        assert body["inquiry"]["first_response_at"] is not None

        def answer() -> Any:
            return next((m for m in relay.clients() if "izvedīsim rīt" in m.get_body().get_content()), None)

        sent = wait_until(answer, what="the answer at the relay")
        assert sent["To"].addresses[0].addr_spec == "janis@client.example"
        assert sent["From"].addresses[0].addr_spec == "klienti@example.lv"
        assert f"[{ref}]" in sent["Subject"]
        with o.service.sessions() as session:
            inquiry = session.exec(select(Inquiry).where(Inquiry.reference == ref)).one()
            events = [e.type for e in session.exec(select(Event).where(Event.inquiry_id == inquiry.id)).all()]
            out = session.exec(
                select(Message).where(Message.inquiry_id == inquiry.id, Message.direction == "out")
            ).one()
        assert inquiry.answered_at is not None and "answered" in events and out.text.startswith("Atkritumus")
        # Signed by the employee in the client's language (policy 8), and kept as the client received it.
        signed = "Ar cieņu,\nJānis Kalniņš, Atkritumu apsaimniekošanas speciālists\nKlientu apkalpošana"
        assert signed in sent.get_body().get_content().replace("\r\n", "\n") and signed in out.text
        # The answered inquiry cannot wait for the client any more.
        _error(o.call("POST", f"/api/v1/inquiries/{ref}/waiting", "employee", json={"waiting": True}), 409, "conflict")


@pytest.mark.slow  # a seeded office
def test_attachments_download_safely(make_settings: Any) -> None:
    with office(settings_with_admin(make_settings)) as o:
        ref = o.refs["waste"]
        png = _attachment_id(o, "board", ref, "image/png")
        html = _attachment_id(o, "board", ref, "text/html")
        got = o.call("GET", f"/api/v1/inquiries/{ref}/attachments/{png}", "employee")
        assert got.status_code == 200 and got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert got.headers["x-content-type-options"] == "nosniff"
        risky = o.call("GET", f"/api/v1/inquiries/{ref}/attachments/{html}", "employee")
        assert risky.status_code == 200 and risky.content == HTML
        assert risky.headers["content-type"] == "application/octet-stream"
        assert 'filename="lapa.html"' in risky.headers["content-disposition"]
        # An attachment id of another inquiry is not found through this one.
        _error(o.call("GET", f"/api/v1/inquiries/{o.refs['waste2']}/attachments/{png}", "employee"), 404)


@pytest.mark.slow  # a seeded office
def test_a_logged_visit_with_written_form_suggested_tells_the_client_how_to_write(
    make_settings: Any, relay: Any
) -> None:
    settings = settings_with_admin(
        make_settings,
        outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"},
        service={"postal_address": "Brīvības iela 1, Rīga, LV-1010"},
    )
    with office(settings) as o:
        response = o.call(
            "POST", "/api/v1/interactions", "other_employee",
            json={"channel": "visit", "client_name": "Māris Liepiņš", "email": "maris@client.example",
                  "phone": "67000999", "text": "Apkures rēķins par trīs gadiem ir par lielu, jāpārbauda visi akti.",
                  "complexity": "complex", "suggested_written": True},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        body = response.json()
        inquiry = body["inquiry"]
        assert body["written_form_sent_on"] == "email"
        assert inquiry["channel"] == "visit" and inquiry["employee"] == "siltums" and inquiry["complexity"] == "complex"
        assert inquiry["due_at"] is not None and inquiry["contact"]["phone"] == "+37167000999"

        def written() -> Any:
            return next((m for m in relay.clients() if "rakstiski" in str(m["Subject"])), None)

        sent = wait_until(written, what="the written-form message")
        text = sent.get_body().get_content()
        assert sent["To"].addresses[0].addr_spec == "maris@client.example"
        assert inquiry["reference"] in text and "klienti@example.lv" in text and "LV-1010" in text
        assert "Andris Ozols" in text
        detail = o.call("GET", f"/api/v1/inquiries/{inquiry['reference']}", "other_employee").json()
        types = [e["type"] for e in detail["events"]]
        assert types[:2] == ["received", "routed"] and "client_written_form_queued" in types
        assert detail["messages"][0]["channel"] == "visit" and detail["messages"][0]["direction"] == "in"
        with o.service.sessions() as session:
            # The logging employee handles it: no staff notification to themselves.
            visit = session.exec(select(Inquiry).where(Inquiry.reference == inquiry["reference"])).one()
            staff = session.exec(
                select(Outbox).where(Outbox.inquiry_id == visit.id, Outbox.kind == "staff_notification")
            ).all()
            assert staff == []
        # Routed instead: a waste question from the coordinator's desk goes to the waste specialist.
        routed = o.call(
            "POST", "/api/v1/interactions", "supervisor",
            json={"channel": "phone", "phone": "+37120000002", "text": "Kad izvedīs lielgabarīta atkritumus?",
                  "route": True},
        )  # fmt: skip
        assert routed.status_code == 201 and routed.json()["inquiry"]["employee"] in ("atkritumi-1", "atkritumi-2")
        assert routed.json()["written_form_sent_on"] is None
        _error(
            o.call("POST", "/api/v1/interactions", "employee", json={"channel": "visit", "text": "x"}),
            422,
            "invalid_request",
        )
        _error(o.call("POST", "/api/v1/interactions", "employee",
                      json={"channel": "fax", "phone": "+37120000002", "text": "x"}), 422)  # fmt: skip


# -- lists, filters, errors --------------------------------------------------------------------


@pytest.mark.slow  # a seeded office and more inquiries through SMTP
def test_list_filters_pagination_and_error_shape(make_settings: Any) -> None:
    with office(settings_with_admin(make_settings)) as o:

        def refs(query: str, role: str = "board") -> list[str]:
            response = o.call("GET", "/api/v1/inquiries" + query, role)
            assert response.status_code == 200, response.text
            return [i["reference"] for i in response.json()["items"]]

        everything = o.call("GET", "/api/v1/inquiries", "board").json()
        assert everything["total"] == 4 and everything["limit"] == 50 and everything["offset"] == 0
        newest_first = [o.refs[k] for k in ("complaint", "heating", "waste2", "waste")]
        assert [i["reference"] for i in everything["items"]] == newest_first
        page = o.call("GET", "/api/v1/inquiries?limit=2&offset=2", "board").json()
        assert page["total"] == 4 and [i["reference"] for i in page["items"]] == newest_first[2:]
        assert refs("?topic=atkritumi&kind=complaint") == [o.refs["complaint"]]
        assert refs("?employee=siltums") == [o.refs["heating"]]
        assert refs("?channel=email&status=open&overdue=false") == newest_first
        assert refs("?overdue=true") == []
        # Case-insensitive, also beyond ASCII (SQLite's own lower() folds only A-Z).
        assert refs("?q=karstā%20ūdens") == [o.refs["heating"]]
        assert refs("?q=" + o.refs["waste"].lower()) == [o.refs["waste"]]
        assert refs("?q=50%25") == []  # % is a character, not a wildcard
        today = date.today()
        assert len(refs(f"?received_from={today - timedelta(days=1)}&received_to={today + timedelta(days=1)}")) == 4
        assert refs(f"?received_to={today - timedelta(days=2)}") == []
        first = everything["items"][0]
        assert first["contact"]["email"] == "peteris@client.example" and "overdue" in first

        _error(o.call("GET", "/api/v1/inquiries?limit=500", "board"), 422, "invalid_request")
        _error(o.call("GET", "/api/v1/inquiries?status=lost", "board"), 422)
        _error(o.call("GET", "/api/v1/inquiries/GK-1999-000001", "board"), 404, "not_found")
        _error(o.call("GET", "/api/v1/inquiries", "admin"), 403, "forbidden")
        _error(o.call("GET", "/api/v1/nothing-here", "board"), 404)
        _error(
            o.call("POST", f"/api/v1/inquiries/{o.refs['waste']}/reassign", "board", json={"employee": "atkritumi-1"}),
            409,
            "conflict",
        )
        _error(
            o.call("POST", f"/api/v1/inquiries/{o.refs['waste']}/reassign", "board", json={"employee": "ghost"}),
            422,
            "unknown_employee",
        )
        _error(
            o.call(
                "POST",
                f"/api/v1/inquiries/{o.refs['waste']}/notes",
                "board",
                content=b"{",
                headers={"content-type": "application/json"},
            ),
            422,
        )
        _error(
            o.call(
                "POST",
                "/api/v1/absences",
                "admin",
                json={"employee": "nami", "starts_on": "2030-01-05", "ends_on": "2030-01-01"},
            ),
            422,
        )
        config_absence = next(a for a in o.call("GET", "/api/v1/absences", "admin").json() if a["source"] == "config")
        _error(o.call("DELETE", f"/api/v1/absences/{config_absence['id']}", "admin"), 409, "conflict")
        # The webhooks and /health keep their own answers.
        assert o.call("GET", "/health").json()["status"] in ("ok", "degraded")


@pytest.mark.slow  # a seeded office
def test_complexity_moves_the_due_date_and_waiting_stops_the_clock(make_settings: Any) -> None:
    with office(settings_with_admin(make_settings)) as o:
        ref = o.refs["waste2"]
        before = o.call("GET", f"/api/v1/inquiries/{ref}", "employee").json()
        changed = o.call(
            "POST", f"/api/v1/inquiries/{ref}/complexity", "employee", json={"complexity": "complex"}
        ).json()
        assert changed["complexity"] == "complex" and changed["due_at"] > before["due_at"]
        _error(o.call("POST", f"/api/v1/inquiries/{ref}/complexity", "employee", json={"complexity": "complex"}), 409)
        waiting = o.call("POST", f"/api/v1/inquiries/{ref}/waiting", "employee", json={"waiting": True}).json()
        assert waiting["status"] == "waiting_client" and waiting["clock_paused_at"] is not None
        _error(o.call("POST", f"/api/v1/inquiries/{ref}/waiting", "employee", json={"waiting": True}), 409)
        resumed = o.call("POST", f"/api/v1/inquiries/{ref}/waiting", "employee", json={"waiting": False}).json()
        assert resumed["status"] == "open" and resumed["clock_paused_at"] is None
        types = [e["type"] for e in o.call("GET", f"/api/v1/inquiries/{ref}", "employee").json()["events"]]
        assert {"complexity_changed", "waiting_for_client", "clock_resumed"} <= set(types)
