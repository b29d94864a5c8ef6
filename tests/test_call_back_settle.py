"""A call back's reminder is sent only while the call back is owed (issue 18).

A missed call from a client with an open inquiry queues "call the client back" now and a reminder
two working hours later. Staff who log the call on the inquiry (the staff API, or the workspace's
form reached from the task on the inquiry's timeline) settle the task: the reminder is cancelled
and never sent, and a ``call_back_done`` event names the logged call. An answer or a closing
settles it as no longer owed. Without any of them the reminder goes out when it is due.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from ingest.inquiries.explain import explain
from storage.models import Event, Inquiry, Outbox
from tests.client_desk_helpers import EMPLOYEE, ClientDesk, client_desk
from tests.dashboard_helpers import RIGA, csrf_of
from tests.support import wait_until

pytestmark = pytest.mark.slow  # a running service

ANNA, BRUNO, CILDA = "+37129111222", "+37129333444", "+37126555666"


@pytest.fixture
def desk(make_settings: Any) -> Iterator[ClientDesk]:
    with client_desk(make_settings) as desk:
        yield desk


def owed_call_back(desk: ClientDesk, sid: str, number: str) -> tuple[str, Outbox]:
    """A client's WhatsApp inquiry about waste, then a missed call: its reference and the reminder."""
    desk.whatsapp(sid, number, "Labdien, pie mājas netiek izvesti atkritumi.")
    reference = desk.newest_reference()
    desk.clock.advance(timedelta(minutes=10))
    desk.missed_call("CA" + sid, number)
    assert desk.newest_reference() == reference, "the missed call opened an inquiry of its own"
    (task,) = desk.rows(Event, Event.type == "call_back_task", Event.inquiry_id == desk.inquiry(reference).id)
    assert task.data["employee"] == EMPLOYEE
    (reminder,) = [r for r in desk.outbox("staff_call_back_reminder") if r.inquiry_id == task.inquiry_id]
    assert reminder.status == "pending" and reminder.next_attempt_at is not None
    assert reminder.next_attempt_at >= desk.clock() + timedelta(hours=2)
    return reference, reminder


def reminder_now(desk: ClientDesk, reminder: Outbox) -> Outbox:
    (row,) = desk.rows(Outbox, Outbox.id == reminder.id)
    return row


def sent_files(desk: ClientDesk, kind: str) -> list[Path]:
    folder = desk.service.settings.outgoing_folder()
    return sorted(folder.glob(f"*-{kind}.eml")) if folder.exists() else []


def run_outbox(desk: ClientDesk) -> None:
    """What is due goes out now, from the test's thread (besides the service's own worker)."""
    while desk.service.outbox.deliver_due():
        pass


def test_a_call_logged_through_the_api_cancels_the_reminder_which_is_never_sent(desk: ClientDesk) -> None:
    reference, reminder = owed_call_back(desk, "SM1", ANNA)
    desk.clock.advance(timedelta(minutes=30))
    logged = desk.call("POST", "/api/v1/interactions", json={
        "channel": "phone", "inquiry": reference, "text": "Atzvanīju: konteineru izvedīs rīt no rīta.",
    })  # fmt: skip
    assert logged.status_code == 201, logged.text
    assert logged.json()["inquiry"]["reference"] == reference and logged.json()["call_back_done"] is True
    assert len(desk.rows(Inquiry)) == 1, "the call opened an inquiry of its own"
    message = desk.message_with("Atzvanīju")
    assert message.inquiry_id == reminder.inquiry_id and message.channel == "phone" and message.direction == "in"
    cancelled = reminder_now(desk, reminder)
    assert cancelled.status == "cancelled" and cancelled.next_attempt_at is None
    (done,) = desk.rows(Event, Event.type == "call_back_done")
    assert done.inquiry_id == reminder.inquiry_id and done.actor == EMPLOYEE
    assert done.data["reason"] == "call_logged" and done.data["message_id"] == message.id
    assert done.data["cancelled_outbox_ids"] == [reminder.id]
    # The reminder's time comes and goes: nothing is sent, the task's first e-mail was.
    desk.clock.advance(timedelta(hours=6))
    run_outbox(desk)
    wait_until(lambda: sent_files(desk, "staff_call_back"), what="the call-back e-mail sent")
    run_outbox(desk)
    assert reminder_now(desk, reminder).status == "cancelled" and not sent_files(desk, "staff_call_back_reminder")
    assert not [e for e in desk.rows(Event, Event.type == "notified") if e.data["outbox_id"] == reminder.id]
    with Session(desk.service.engine) as session:
        lines = "\n".join(explain(session, reference=reference, tz=RIGA).lines)
    assert f"call back settled: the call was logged; reminders cancelled: {reminder.id}" in lines
    # A second call logged settles nothing more.
    again = desk.call("POST", "/api/v1/interactions", json={"channel": "phone", "inquiry": reference, "text": "Vēl."})
    assert again.status_code == 201 and again.json()["call_back_done"] is False
    assert len(desk.rows(Event, Event.type == "call_back_done")) == 1


def test_without_a_logged_call_the_reminder_goes_out_when_due_and_the_workspace_logs_it(desk: ClientDesk) -> None:
    reference, reminder = owed_call_back(desk, "SM2", BRUNO)
    workspace = desk.workspace()
    task_id = desk.rows(Event, Event.type == "call_back_task")[0].id
    page = workspace.get(f"/dashboard/inquiries/{reference}")
    assert f'class="call-back owed" id="call-back-{task_id}"' in page.text
    assert f'href="/dashboard/interactions?inquiry={reference}"' in page.text
    run_outbox(desk)  # not yet due
    assert reminder_now(desk, reminder).status == "pending"
    assert reminder.next_attempt_at is not None
    desk.clock.now = reminder.next_attempt_at + timedelta(seconds=1)
    wait_until(lambda: reminder_now(desk, reminder).status == "sent", what="the reminder sent when due")
    (file,) = sent_files(desk, "staff_call_back_reminder")
    assert reference.encode() in file.read_bytes()
    page = workspace.get(f"/dashboard/inquiries/{reference}")
    assert f'class="call-back reminded" id="call-back-{task_id}"' in page.text
    # The call, logged from the task's link: on this inquiry, the call back done.
    form = workspace.get(f"/dashboard/interactions?inquiry={reference}")
    assert form.status_code == 200 and f'name="inquiry" value="{reference}"' in form.text
    done = workspace.post("/dashboard/interactions", data={
        "csrf": csrf_of(form.text), "inquiry": reference, "channel": "phone", "text": "Piezvanīju klientam.",
    })  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].endswith(f"/{reference}?done=call_back_done")
    (event,) = desk.rows(Event, Event.type == "call_back_done")
    assert event.data["cancelled_outbox_ids"] == [] and event.data["tasks"] == [task_id]  # it had gone already
    page = workspace.get(done.headers["location"])
    assert f'class="call-back done" id="call-back-{task_id}"' in page.text and 'id="done"' in page.text
    assert f"/dashboard/interactions?inquiry={reference}" not in page.text  # nothing left to log


def test_an_answer_or_a_closing_settles_the_call_back(desk: ClientDesk) -> None:
    answered, first = owed_call_back(desk, "SM3", CILDA)
    reply = desk.call("POST", f"/api/v1/inquiries/{answered}/answer", json={"text": "Izvedīsim rīt."})
    assert reply.status_code == 200, reply.text
    assert reminder_now(desk, first).status == "cancelled"
    (event,) = desk.rows(Event, Event.type == "call_back_cancelled")
    assert event.data["reason"] == "answered" and event.data["cancelled_outbox_ids"] == [first.id]
    closed, second = owed_call_back(desk, "SM4", ANNA)
    shut = desk.call("POST", f"/api/v1/inquiries/{closed}/close", json={"reason": "answered_by_phone"})
    assert shut.status_code == 200, shut.text
    assert reminder_now(desk, second).status == "cancelled"
    _, event = desk.rows(Event, Event.type == "call_back_cancelled")
    assert event.data["reason"] == "closed" and event.data["cancelled_outbox_ids"] == [second.id]
    # A closed inquiry takes no logged call: it is reopened first.
    refused = desk.call("POST", "/api/v1/interactions", json={"channel": "phone", "inquiry": closed, "text": "X"})
    assert refused.status_code == 409, refused.text
