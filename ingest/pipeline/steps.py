"""The pipeline's steps, in the order they run. Adding a step is a module and one line here."""

from __future__ import annotations

from ingest.pipeline import (
    add_message,
    automatic,
    contact,
    dedupe,
    link_suggest,
    notify,
    open_route,
    staff_reply,
    thread,
)
from ingest.pipeline.arrival import Arrival, Outcome, Step
from ingest.privacy import late_replies

STEPS: tuple[Step, ...] = (
    dedupe.STEP,
    late_replies.STEP,  # mail about an erased inquiry: dropped before anything stores it again
    automatic.STEP,
    staff_reply.STEP,
    contact.STEP,
    thread.STEP,
    open_route.STEP,
    thread.LINK_STEP,  # a message about another topic: its new inquiry and the open one linked
    add_message.STEP,
    link_suggest.STEP,  # a number in an e-mail, a name: a link to another client suggested to staff
    automatic.NOTE_STEP,  # mail a machine sent for someone: an event on its inquiry
    notify.STEP,
)


def run_steps(arrival: Arrival, steps: tuple[Step, ...] = STEPS) -> tuple[Outcome, str]:
    """Run the steps until one decides; returns the outcome and the name of the step that decided."""
    for step in steps:
        outcome = step.run(arrival)
        if outcome is not None:
            return outcome, step.name
    raise RuntimeError("no pipeline step decided what became of the message")
