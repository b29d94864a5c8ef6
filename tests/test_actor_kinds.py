"""Typed event actors (issue 15, item 4): only an employee's own doing counts as theirs.

An employee sees the inquiries they handled before, an event they made among them
(ingest/inquiries/access.py). The actor was a bare name, so ``ingest reassign --actor KEY`` (the
default is ``$USER``) or a reply whose ``From`` nothing proves counted as that employee's, and
showed them the inquiry. Now an event says what its actor is (storage/actors.py).
"""

from __future__ import annotations

import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ingest.api.auth import Principal
from ingest.api.shapes import detail
from ingest.inquiries.access import can_see
from ingest.inquiries.explain import explain
from ingest.pipeline.arrival import Outcome
from storage.models import Employee, Event, Inquiry, Outbox
from storage.staff_models import Role
from tests.staff_proof_helpers import STAFF_REPLIES, vouch
from tests.support import write_config
from tests.test_staff_reply_proof import deliver, office, reply, rows, the_inquiry

# An employee of another field: nothing of the lift inquiry is theirs.
STRANGER = "siltums"


def sees(world: Any, key: str) -> bool:
    with Session(world.engine) as session:
        employee = session.exec(select(Employee).where(Employee.key == key)).one()
        inquiry = session.exec(select(Inquiry)).one()
        assert employee.id is not None
        principal = Principal(employee_id=employee.id, key=key, role=Role(employee.role), token_id=0, remote_addr=None)
        return can_see(session, principal, inquiry)


def last_event(world: Any, type_: str) -> Event:
    with Session(world.engine) as session:
        return [e for e in session.exec(select(Event).order_by(Event.id)).all() if e.type == type_][-1]  # type: ignore[arg-type]


def test_a_cli_action_under_an_employees_key_is_not_theirs(make_settings: Any, tmp_path: Path) -> None:
    with office(make_settings) as world:
        inquiry, responsible = the_inquiry(world)
        target = next(k for k in ("nami", "celi") if k != STRANGER and k != responsible.key)
        assert not sees(world, STRANGER)
        config = write_config(tmp_path, world.settings.database_url())
        run = subprocess.run(
            [sys.executable, "-m", "ingest.cli", "reassign", inquiry.reference, target, "--reason", "lifts",
             "--actor", STRANGER, "--config", str(config)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        moved = last_event(world, "reassigned")
        assert (moved.actor, moved.actor_kind) == (STRANGER, "cli")
        # Before: the event's actor equalled the key, and the inquiry was theirs to see.
        assert not sees(world, STRANGER)
        with Session(world.engine) as session:
            shown = detail(session, session.exec(select(Inquiry)).one(), world.clock()).model_dump(mode="json")
            lines = explain(session, reference=inquiry.reference, tz=ZoneInfo("Europe/Riga")).lines
        (event,) = [e for e in shown["events"] if e["type"] == "reassigned"]
        assert (event["actor"], event["actor_kind"]) == (STRANGER, "cli")  # `actor` as it was; the kind added
        assert {e["actor_kind"] for e in shown["events"] if e["type"] == "routed"} == {"system"}
        assert any(line.endswith(f"reassigned by {STRANGER} (cli)") for line in lines), lines


def reply_to_notice(world: Any, sender: str, outbox: Outbox, text: str, n: int) -> bytes:
    """A reply to one of the service's e-mails by its Message-ID alone (no reply address)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "klienti@example.lv"
    msg["Subject"] = "Re: " + str(outbox.payload["subject"])
    msg["Message-ID"] = f"<notice-reply-{n}@example.lv>"
    assert outbox.external_id is not None
    msg["In-Reply-To"] = "<" + outbox.external_id.removeprefix("mid:") + ">"
    msg.set_content(text)
    return vouch(msg.as_bytes())


def test_a_reply_from_an_employee_counts_as_theirs_only_when_proven_and_bound(make_settings: Any) -> None:
    with office(make_settings, **STAFF_REPLIES) as world:
        _, responsible = the_inquiry(world)
        with Session(world.engine) as session:
            employees = {e.key: e for e in session.exec(select(Employee)).all()}
        forged_as, colleague = (employees[k] for k in ("siltums", "celi"))
        assert responsible.key not in (forged_as.key, colleague.key)
        # Anyone can write an employee's address into From: kept as a note, theirs in name only.
        assert deliver(world, reply(world, forged_as.email, "Es to izdarīšu.", 1)) == Outcome.NOTE
        note = last_event(world, "note_added")
        assert (note.actor, note.actor_kind, note.data["reason"]) == (forged_as.key, "sender", "unverified")
        # Before: the note's actor equalled the key, and the inquiry was theirs to see.
        assert not sees(world, forged_as.key)
        # Proven by the office's mail server, but through a reply address forwarded to the colleague
        # (the notification went to someone else): kept as a note, and still not theirs to see.
        assert deliver(world, vouch(reply(world, colleague.email, "Es to izdarīšu.", 2))) == Outcome.NOTE
        note = last_event(world, "note_added")
        assert (note.actor, note.actor_kind, note.data["reason"]) == (colleague.key, "sender", "not_yours")
        assert not sees(world, colleague.key)
        # Both were told it was not sent on; being told binds nobody: a proven reply after it,
        # by the reply address or to the notice itself, is still not theirs.
        notices = [o for o in rows(world, Outbox) if o.kind == "staff_reply_not_relayed"]
        assert {o.recipient for o in notices} == {forged_as.email, colleague.email}
        assert deliver(world, vouch(reply(world, forged_as.email, "Tagad ar parakstu.", 3))) == Outcome.NOTE
        to_notice = next(o for o in notices if o.recipient == colleague.email)
        assert deliver(world, reply_to_notice(world, colleague.email, to_notice, "#slēgt", 4)) == Outcome.NOTE
        kinds = [(e.actor, e.actor_kind, e.data["reason"]) for e in rows(world, Event) if e.type == "note_added"]
        assert kinds[-2:] == [(forged_as.key, "sender", "not_yours"), (colleague.key, "sender", "not_yours")]
        assert not sees(world, forged_as.key) and not sees(world, colleague.key)
        assert rows(world, Inquiry)[0].status == "open"  # the colleague's #slēgt closed nothing
        # The responsible employee's proven note is theirs.
        assert deliver(world, vouch(reply(world, responsible.email, "#piezīme Zvanīju.", 5))) == Outcome.NOTE
        note = last_event(world, "note_added")
        assert (note.actor, note.actor_kind, note.data["reason"]) == (responsible.key, "employee", None)
