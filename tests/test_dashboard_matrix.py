"""Every change the inquiry page offers, refused alike (issue 12, what must be shown): without the
form's CSRF token, for the admin, and on an inquiry the user may not see; and client text escaped in
the parts the page gained (what was sent to the client, the routing in words, the thank-you, the
client's other inquiries)."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from storage.db import transaction
from storage.models import Event, Inquiry, Message, Outbox
from storage.staff_models import AuditLog
from tests.dashboard_helpers import (
    NOW,
    PASSWORD,
    XSS_ATTR,
    XSS_SCRIPT,
    Clock,
    csrf_of,
    give_passwords,
    login,
    riga,
    seed,
)
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service

KEYS = {"employee": "atkritumi-1", "supervisor": "koordinatore", "board": "valde", "admin": "it-admin"}


def fields(refs: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each action of /dashboard/inquiries/REF/<action> with fields that would make it happen."""
    return {
        "answer": {"text": "Atbilde"},
        "notes": {"text": "Piezīme"},
        "waiting": {"waiting": "1"},
        "complexity": {"complexity": "complex"},
        "close": {"reason": "spam"},
        "reopen": {},
        "reassign": {"employee": "atkritumi-2", "reason": "Cita kompetence"},
        "merge": {"into": refs["G"]},
    }


def state(service: Any) -> tuple[Any, ...]:
    with service.sessions() as session:
        inquiries = sorted((i.reference, i.status, i.employee_id, i.complexity, i.merged_into_id)
                           for i in session.exec(select(Inquiry)).all())  # fmt: skip
        changes = session.exec(
            select(AuditLog).where(~col(AuditLog.action).in_(["inquiry.read", "inquiry.list"]))
        ).all()
        return (inquiries, len(session.exec(select(Message)).all()), len(session.exec(select(Outbox)).all()),
                sorted(a.action for a in changes if not a.action.startswith("dashboard.")))  # fmt: skip


@pytest.mark.slow  # a running service, four logins
def test_every_action_is_refused_without_csrf_for_the_admin_and_on_an_unseen_inquiry(make_settings: Any) -> None:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, *KEYS.values())
        refs = seed(service.sessions)
        base = f"http://127.0.0.1:{service.http_port}"
        clients = {role: login(base, key, PASSWORD)[0] for role, key in KEYS.items()}
        token = {role: csrf_of(c.get("/dashboard/inquiries").text if role != "admin" else c.get("/dashboard").text)
                 for role, c in clients.items()}  # fmt: skip
        before = state(service)
        for action, data in fields(refs).items():
            own, unseen = f"/dashboard/inquiries/{refs['C']}/{action}", f"/dashboard/inquiries/{refs['D']}/{action}"
            got = {
                "no csrf": clients["employee"].post(own, data=data).status_code,
                "wrong csrf": clients["employee"].post(own, data={**data, "csrf": token["board"]}).status_code,
                "admin": clients["admin"].post(own, data={**data, "csrf": token["admin"]}).status_code,
                "unseen": clients["employee"].post(unseen, data={**data, "csrf": token["employee"]}).status_code,
                "anonymous": httpx.post(base + own, data=data).status_code,
            }
            assert got == {"no csrf": 403, "wrong csrf": 403, "admin": 403, "unseen": 404, "anonymous": 303}, action
        # Only the responsible employee answers, whoever else may see the inquiry.
        answer = {"text": "Atbilde", "csrf": token["supervisor"]}
        assert clients["supervisor"].post(f"/dashboard/inquiries/{refs['C']}/answer", data=answer).status_code == 403
        assert state(service) == before, "nothing changed, nothing was sent, no change was audited"


@pytest.mark.slow  # a running service
def test_client_text_is_escaped_in_what_was_sent_the_routing_the_thanks_and_the_history(make_settings: Any) -> None:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "valde")
        refs = seed(service.sessions)
        with transaction(service.sessions) as session:
            c = session.exec(select(Inquiry).where(Inquiry.reference == refs["C"])).one()
            g = session.exec(select(Inquiry).where(Inquiry.reference == refs["G"])).one()
            assert c.id is not None
            g.contact_id, g.subject = c.contact_id, f"Vēsture {XSS_SCRIPT}"  # the same client's other inquiry
            at = riga("2026-03-10 12:00")
            row = Outbox(kind="client_answer", channel="email", recipient="client3@client.example", inquiry_id=c.id,
                         payload={"subject": f"Re: {XSS_ATTR}", "text": f"Atbilde {XSS_SCRIPT}"},
                         created_at=at)  # fmt: skip
            session.add_all([g, row])
            session.flush()
            session.add_all([
                Event(inquiry_id=c.id, at=at, type="answered", actor="atkritumi-1", actor_kind="employee",
                      data={"outbox_id": row.id}),
                Message(inquiry_id=c.id, direction="in", channel="email", external_id="x:thanks",
                        sender="client3@client.example", text=f"Paldies! {XSS_ATTR}",
                        received_at=at + timedelta(hours=1)),
            ])  # fmt: skip
            routed = session.exec(select(Event).where(Event.inquiry_id == c.id, Event.type == "routed")).one()
            routed.data = {"rule": "topic-keyword", "employee": "atkritumi-1",
                           "facts": {"topic": "atkritumi", "keyword": XSS_ATTR, "matched_word": XSS_SCRIPT,
                                     "absent": [XSS_SCRIPT]}}  # fmt: skip
            session.add(routed)
        client, _ = login(f"http://127.0.0.1:{service.http_port}", "valde", PASSWORD)
        page = client.get(f"/dashboard/inquiries/{refs['C']}").text
        assert XSS_SCRIPT not in page and XSS_ATTR not in page and "<script" not in page.lower()
        escaped = html.escape(XSS_SCRIPT)
        assert f"Atbilde {escaped}" in page, "what was sent, as text"
        assert f"Vēsture {escaped}" in page, "the client's other inquiry, as text"
        assert f"«{escaped}»" in page, "the routing's words, as text"
        assert 'id="thanks"' in page and "Paldies! &#34;&gt;&lt;img" in page, "the thank-you, as text"
