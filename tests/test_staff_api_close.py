"""``POST /api/v1/inquiries/{ref}/close`` and ``/reopen`` (issue 12): closing without writing to the
client, with a reason; reopening with the due date it had."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from storage.models import Event, Inquiry, Outbox
from tests.staff_api_helpers import office, settings_with_admin


@pytest.mark.slow  # a running service
def test_close_and_reopen_over_the_api(make_settings: Any) -> None:
    with office(settings_with_admin(make_settings)) as o:
        ref = o.refs["waste"]
        bad = o.call("POST", f"/api/v1/inquiries/{ref}/close", "employee", json={"reason": "bored"})
        assert bad.status_code == 422
        assert o.call("POST", f"/api/v1/inquiries/{ref}/close", "admin", json={"reason": "spam"}).status_code == 403
        closed = o.call("POST", f"/api/v1/inquiries/{ref}/close", "employee", json={"reason": "no_answer_needed"})
        assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text
        again = o.call("POST", f"/api/v1/inquiries/{ref}/close", "employee", json={"reason": "spam"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        with o.service.sessions() as session:
            inquiry = session.exec(select(Inquiry).where(Inquiry.reference == ref)).one()
            reasons = [e.data.get("reason") for e in session.exec(select(Event).where(Event.type == "closed")).all()]
            answers = session.exec(select(Outbox).where(Outbox.kind == "client_answer")).all()
        assert reasons == ["no_answer_needed"] and answers == [] and inquiry.answered_at is None
        due = inquiry.due_at
        reopened = o.call("POST", f"/api/v1/inquiries/{ref}/reopen", "employee")
        assert reopened.status_code == 200 and reopened.json()["status"] == "open"
        with o.service.sessions() as session:
            assert session.exec(select(Inquiry).where(Inquiry.reference == ref)).one().due_at == due
        assert o.call("POST", f"/api/v1/inquiries/{ref}/reopen", "employee").status_code == 409
