"""Merging over real HTTP (issue 12, item 3 "merge"): ``POST /api/v1/inquiries/{ref}/merge`` and
the inquiry page's form, with their refusals. The service itself: tests/test_merge.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from storage.db import transaction
from storage.models import Inquiry
from storage.staff_models import AuditLog
from tests.dashboard_helpers import PASSWORD, csrf_of, login
from tests.staff_api_helpers import office as api_office
from tests.staff_api_helpers import settings_with_admin
from tests.test_dashboard_actions import inquiry, post
from tests.test_dashboard_actions import office as dashboard_office


def _set_due(service: Any, reference: str, due: Any) -> None:
    with transaction(service.sessions) as session:
        row = session.exec(select(Inquiry).where(Inquiry.reference == reference)).one()
        row.due_at = due
        session.add(row)


@pytest.mark.slow  # a running service
def test_merge_over_the_api(make_settings: Any) -> None:
    with api_office(settings_with_admin(make_settings)) as o:
        source, target = o.refs["waste"], o.refs["waste2"]

        def merge(role: str, ref: str, into: str) -> Any:
            return o.call("POST", f"/api/v1/inquiries/{ref}/merge", role, json={"into": into})

        assert merge("admin", source, target).status_code == 403
        assert merge("other_employee", source, target).status_code == 404, "not theirs: as if it did not exist"
        assert merge("employee", source, o.refs["heating"]).status_code == 404, "the target is not theirs either"
        different = merge("board", source, o.refs["heating"])
        assert different.status_code == 409 and different.json()["error"]["code"] == "conflict"
        assert merge("employee", source, source).status_code == 409
        assert merge("employee", source, "GK-2026-999999").status_code == 404
        # The employee still sees the target after it was given to someone else, but may not change it.
        moved = o.call("POST", f"/api/v1/inquiries/{target}/reassign", "supervisor",
                       json={"employee": "siltums", "reason": "atvaļinājums"})  # fmt: skip
        assert moved.status_code == 200, moved.text
        assert merge("employee", source, target).status_code == 403
        target_before = o.call("GET", f"/api/v1/inquiries/{target}", "supervisor").json()
        earlier = o.call("GET", f"/api/v1/inquiries/{source}", "supervisor").json()
        with o.service.sessions() as session:
            due = session.exec(select(Inquiry).where(Inquiry.reference == target)).one().due_at
        _set_due(o.service, source, due - timedelta(hours=3))

        done = merge("supervisor", source, target)
        assert done.status_code == 200, done.text
        assert done.json()["reference"] == target and done.json()["merged_into"] is None
        merged = o.call("GET", f"/api/v1/inquiries/{source}", "supervisor").json()
        assert (merged["status"], merged["merged_into"], merged["messages"]) == ("closed", target, [])
        assert [e["type"] for e in merged["events"]] == ["merged_into"]
        after = o.call("GET", f"/api/v1/inquiries/{target}", "supervisor").json()
        assert len(after["messages"]) == len(target_before["messages"]) + len(earlier["messages"])
        names = {a["filename"] for m in after["messages"] for a in m["attachments"]}
        assert {"konteiners.png", "lapa.html"} <= names
        assert "merged" in [e["type"] for e in after["events"]]
        with o.service.sessions() as session:
            assert session.exec(select(Inquiry).where(Inquiry.reference == target)).one().due_at == due - timedelta(
                hours=3
            ), "the earlier due date stands"
            audit = session.exec(select(AuditLog).where(AuditLog.action == "inquiry.merge")).all()
        assert [(a.actor, a.detail["reference"], a.detail["into"]) for a in audit] == [("koordinatore", source, target)]
        listed = o.call("GET", "/api/v1/inquiries?status=closed", "supervisor").json()["items"]
        assert [(i["reference"], i["merged_into"]) for i in listed] == [(source, target)]
        assert merge("supervisor", source, target).status_code == 409, "already merged"
        assert merge("supervisor", target, source).status_code == 409, "into a merged one"


@pytest.mark.slow  # a running service
def test_merge_from_the_inquiry_page(make_settings: Any) -> None:
    with dashboard_office(make_settings) as (service, base, refs):
        source, target = refs["G"], refs["C"]  # both the waste specialist's; G is due earlier
        with transaction(service.sessions) as session:
            rows = {i.reference: i for i in session.exec(select(Inquiry)).all()}
            rows[source].contact_id = rows[target].contact_id  # one client
            session.add(rows[source])
        employee, _ = login(base, "atkritumi-1", PASSWORD)
        page = employee.get(f"/dashboard/inquiries/{source}").text
        assert 'id="merge-into"' in page and f'<option value="{target}">' in page
        assert f'<option value="{refs["D"]}">' not in page, "only the same client's inquiries are offered"
        no_csrf = employee.post(f"/dashboard/inquiries/{source}/merge", data={"into": target})
        assert no_csrf.status_code == 403 and inquiry(service, source).merged_into_id is None
        assert post(employee, source, "merge", into="").status_code == 422
        assert post(employee, source, "merge", into=source).status_code == 409
        other, _ = login(base, "siltums", PASSWORD)
        assert post(other, refs["D"], "merge", into=target).status_code == 404, "the target is not theirs"

        done = post(employee, source, "merge", into=target)
        assert done.status_code == 303 and done.headers["location"] == f"/dashboard/inquiries/{target}?done=merged"
        shown = employee.get(done.headers["location"]).text
        assert 'id="done"' in shown and f'href="/dashboard/inquiries/{source}"' in shown
        merged, kept = inquiry(service, source), inquiry(service, target)
        assert (merged.status, merged.merged_into_id) == ("closed", kept.id)
        assert kept.due_at is not None and kept.due_at == merged.due_at, "the earlier due date stands"
        pointer = employee.get(f"/dashboard/inquiries/{source}").text
        assert 'id="merged-into"' in pointer and f'href="/dashboard/inquiries/{target}"' in pointer
        assert 'id="merge-into"' not in pointer, "a merged inquiry is not merged again"
        with service.sessions() as session:
            audit = session.exec(select(AuditLog).where(AuditLog.action == "inquiry.merge")).one()
        assert audit.detail["into"] == target and audit.detail["via"] == "dashboard"
        assert csrf_of(pointer)
