"""Answering, noting, waiting and changing the complexity from the inquiry's page (issue 12, item 3):
the same rules, services and audit rows as the staff API, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from storage.db import transaction
from storage.models import Attachment, Inquiry, Message, Outbox
from storage.staff_models import AuditLog
from tests.dashboard_helpers import NOW, PASSWORD, Clock, csrf_of, give_passwords, login, seed
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service


@contextmanager
def office(make_settings: Any, *, seeded: bool = True) -> Iterator[tuple[Any, str, dict[str, str]]]:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "atkritumi-1", "koordinatore", "siltums")
        # The seeds take references directly, past the counter: a test that opens inquiries has none.
        refs = seed(service.sessions) if seeded else {}
        yield service, f"http://127.0.0.1:{service.http_port}", refs


def post(client: httpx.Client, reference: str, action: str, **fields: str) -> httpx.Response:
    page = client.get(f"/dashboard/inquiries/{reference}")
    return client.post(f"/dashboard/inquiries/{reference}/{action}", data={"csrf": csrf_of(page.text), **fields})


def inquiry(service: Any, reference: str) -> Inquiry:
    with service.sessions() as session:
        found = session.exec(select(Inquiry).where(Inquiry.reference == reference)).one()
        session.expunge(found)
        return found


def test_the_responsible_employee_answers_notes_and_waits(make_settings: Any) -> None:
    with office(make_settings) as (service, base, refs):
        client, _ = login(base, "atkritumi-1", PASSWORD)
        ref = refs["C"]
        page = client.get(f"/dashboard/inquiries/{ref}").text
        assert 'id="answer"' in page and 'id="note"' in page and 'id="wait"' in page
        assert post(client, ref, "notes", text="Zvanīju, neatbild.").headers["location"].endswith("?done=noted")
        waited = post(client, ref, "waiting", waiting="1")
        assert waited.status_code == 303 and inquiry(service, ref).status == "waiting_client"
        assert "Pieprasījums gaida klientu" in client.get(waited.headers["location"]).text
        post(client, ref, "waiting", waiting="0")
        assert inquiry(service, ref).status == "open"
        answered = post(client, ref, "answer", text="Konteiners tiks iztukšots rīt.")
        assert answered.headers["location"].endswith("?done=answered")
        assert inquiry(service, ref).status == "answered"
        with service.sessions() as session:
            sent = session.exec(select(Outbox).where(Outbox.kind == "client_answer")).all()
            kinds = [m.direction for m in session.exec(select(Message).order_by(col(Message.id))).all()]
            actions = {a.action for a in session.exec(select(AuditLog)).all()}
        assert len(sent) == 1 and "Konteiners tiks iztukšots rīt." in str(sent[0].payload)
        assert "note" in kinds and "out" in kinds
        assert {"inquiry.note", "inquiry.waiting", "inquiry.answer"} <= actions


def test_refusals_follow_the_api_rules(make_settings: Any) -> None:
    with office(make_settings) as (service, base, refs):
        ref = refs["C"]
        supervisor, _ = login(base, "koordinatore", PASSWORD)
        assert 'id="answer"' not in supervisor.get(f"/dashboard/inquiries/{ref}").text
        assert post(supervisor, ref, "answer", text="Nē").status_code == 403, "only the responsible employee answers"
        assert post(supervisor, ref, "complexity", complexity="complex").status_code == 303
        assert inquiry(service, ref).complexity == "complex"
        other, _ = login(base, "siltums", PASSWORD)
        assert post(other, refs["C"], "notes", text="x").status_code == 404, "not theirs: as if it did not exist"
        employee, _ = login(base, "atkritumi-1", PASSWORD)
        no_csrf = employee.post(f"/dashboard/inquiries/{ref}/answer", data={"text": "Sveiki"})
        assert no_csrf.status_code == 403
        assert post(employee, ref, "answer", text="   ").status_code == 422
        assert post(employee, ref, "complexity", complexity="huge").status_code == 422
        assert inquiry(service, ref).status == "open", "nothing of the refused answers was done"


@pytest.mark.slow  # a running service
def test_close_with_a_reason_and_reopen(make_settings: Any) -> None:
    with office(make_settings) as (service, base, refs):
        ref = refs["C"]
        employee, _ = login(base, "atkritumi-1", PASSWORD)
        assert post(employee, ref, "close", reason="whatever").status_code == 422
        closed = post(employee, ref, "close", reason="answered_by_phone")
        assert closed.headers["location"].endswith("?done=closed")
        assert inquiry(service, ref).status == "closed"
        page = employee.get(closed.headers["location"]).text
        assert "atbildēts pa tālruni" in page and 'id="reopen"' in page and 'id="answer"' not in page
        with service.sessions() as session:
            assert session.exec(select(Outbox).where(Outbox.kind == "client_answer")).first() is None
        assert post(employee, ref, "close", reason="spam").status_code == 409, "closed already"
        assert post(employee, ref, "reopen").headers["location"].endswith("?done=reopened")
        assert inquiry(service, ref).status == "open"
        other, _ = login(base, "siltums", PASSWORD)
        assert post(other, ref, "close", reason="spam").status_code == 404


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000005000118dd8db40000000049454e44ae426082"
)


@pytest.mark.slow  # a running service
def test_attachments_download_safely_and_the_clients_history_shows(make_settings: Any) -> None:
    with office(make_settings) as (service, base, refs):
        with transaction(service.sessions) as session:
            c = session.exec(select(Inquiry).where(Inquiry.reference == refs["C"])).one()
            g = session.exec(select(Inquiry).where(Inquiry.reference == refs["G"])).one()
            g.contact_id = c.contact_id  # the same client wrote twice
            session.add(g)
            message = session.exec(select(Message).where(Message.inquiry_id == c.id)).one()
            photo = Attachment(message_id=message.id, filename="konteiners.png", content_type="image/png",
                               size=len(PNG), sha256="x", data=PNG)  # fmt: skip
            trap = Attachment(message_id=message.id, filename="x.svg", content_type="image/svg+xml", size=5,
                              sha256="y", data=b"<svg/>")  # fmt: skip
            session.add_all([photo, trap])
            session.flush()
            photo_id, trap_id = photo.id, trap.id
        employee, _ = login(base, "atkritumi-1", PASSWORD)
        page = employee.get(f"/dashboard/inquiries/{refs['C']}").text
        link = f"/dashboard/inquiries/{refs['C']}/attachments/{photo_id}"
        assert f'<img class="thumbnail" src="{link}"' in page and f'href="/dashboard/inquiries/{refs["G"]}"' in page
        got = employee.get(link)
        assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
        assert got.headers["content-disposition"].startswith("attachment;")
        svg = employee.get(f"/dashboard/inquiries/{refs['C']}/attachments/{trap_id}")
        assert svg.headers["content-type"] == "application/octet-stream", "what could run is served as bytes"
        other, _ = login(base, "siltums", PASSWORD)
        assert other.get(link).status_code == 404
        with service.sessions() as session:
            downloads = session.exec(select(AuditLog).where(AuditLog.action == "attachment.download")).all()
        assert len(downloads) == 2


@pytest.mark.slow  # a running service
def test_log_a_visit_with_the_written_form_suggested(make_settings: Any) -> None:
    with office(make_settings, seeded=False) as (service, base, _refs):
        employee, _ = login(base, "atkritumi-1", PASSWORD)
        form = employee.get("/dashboard/interactions")
        assert form.status_code == 200 and 'id="log-interaction"' in form.text
        fields = {"channel": "visit", "client_name": "Anna Liepa", "email": "anna@client.example",
                  "text": "Vēlas mainīt konteineru izvešanas grafiku.", "suggested_written": "1"}  # fmt: skip
        assert employee.post("/dashboard/interactions", data=fields).status_code == 403, "no CSRF token"
        logged = employee.post("/dashboard/interactions", data={**fields, "csrf": csrf_of(form.text)})
        assert logged.status_code == 303 and logged.headers["location"].endswith("?done=logged")
        reference = logged.headers["location"].split("/")[-1].split("?")[0]
        shown = inquiry(service, reference)
        assert shown.channel == "visit" and shown.status == "open"
        with service.sessions() as session:
            written = session.exec(select(Outbox).where(Outbox.kind == "client_written_form")).all()
            logs = session.exec(select(AuditLog).where(AuditLog.action == "interaction.log")).all()
        assert [w.recipient for w in written] == ["anna@client.example"] and len(logs) == 1
        nobody = employee.post("/dashboard/interactions", data={**fields, "email": "", "csrf": csrf_of(form.text)})
        assert nobody.status_code == 422
