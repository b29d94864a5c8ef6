"""Where each call-back task of an inquiry stands, for its timeline (ingest/inquiries/call_back.py):
owed (its reminder waiting or sent), done (the call was logged) or no longer owed (the inquiry
was answered or closed). Read from the inquiry's events alone, so the page needs no query for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ingest.api.schemas import EventOut
from storage import call_back_repo


@dataclass(frozen=True)
class CallBack:
    state: str  # owed, reminded, done, answered, closed
    at: datetime | None  # owed: when the reminder goes; else when the state was reached


def call_back_states(events: Sequence[EventOut]) -> dict[int, CallBack]:
    """Per ``call_back_task`` event id, where the task stands."""
    settled: dict[int, EventOut] = {}
    for event in events:
        if event.type in call_back_repo.SETTLED:
            settled.update({int(task): event for task in event.data.get("tasks", [])})
    sent = {e.data.get("outbox_id"): e.at for e in events
            if e.type == "notified" and e.data.get("kind") == call_back_repo.REMINDER_KIND}  # fmt: skip
    states = {}
    for task in (e for e in events if e.type == call_back_repo.TASK):
        how = settled.get(task.id)
        if how is not None:
            state = "done" if how.type == call_back_repo.DONE else str(how.data.get("reason"))
            states[task.id] = CallBack(state=state, at=how.at)
            continue
        reminder = _reminder_of(task, events)
        if reminder in sent:
            states[task.id] = CallBack(state="reminded", at=sent[reminder])
        else:
            states[task.id] = CallBack(state="owed", at=_remind_at(task))
    return states


def _reminder_of(task: EventOut, events: Sequence[EventOut]) -> object:
    """The outbox id of the task's reminder: queued with the task, so the first one after it."""
    for event in events:
        if event.id > task.id and event.type == call_back_repo.REMINDER_QUEUED:
            return event.data.get("outbox_id")
    return None


def _remind_at(task: EventOut) -> datetime | None:
    try:
        return datetime.fromisoformat(str(task.data.get("remind_at")))
    except ValueError:
        return None
