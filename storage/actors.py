"""Who did something, as events record it: a name and the kind of actor it names.

An event's ``actor`` is a plain name; ``actor_kind`` says what the name is. Only an event whose
kind is ``employee`` is an employee's own doing: the name is then their key, known from their
login (an API token, a dashboard session) or from an e-mail reply proven to be theirs that
answers a notification sent to them (or comes from the inquiry's responsible employee). Access
rules (``ingest/inquiries/access.py``) compare keys with such events only, so a command-line
user whose ``--actor`` (or ``$USER``) equals an employee's key, or a forged ``From``, counts as
nobody's.

The reserved names are still refused as employee keys by ``ingest check-config``: events
written before the kind existed were typed by migration 0015 from the name alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The default actor of events and audit rows (the pipeline, the scheduler, retention).
SYSTEM = "system"
# A staff reply whose sender is not an employee.
UNKNOWN_SENDER = "unknown-sender"
# The command line's actor when $USER is not set.
CLI = "cli"

RESERVED_ACTORS: frozenset[str] = frozenset({SYSTEM, UNKNOWN_SENDER, CLI})


class ActorKind(StrEnum):
    # An employee known by their login or a proven e-mail: the name is their key.
    EMPLOYEE = "employee"
    # The service itself: the pipeline, the scheduler, retention, the outbox.
    SYSTEM = "system"
    # A command-line user: the name is whatever --actor or $USER said, vouched for by nobody.
    CLI = "cli"
    # An e-mail's sender as its From names them, not proven (a staff reply without DKIM or the
    # office's Authentication-Results, or a sender who is no employee): the name is a claim.
    SENDER = "sender"


@dataclass(frozen=True)
class Actor:
    """The actor of an event: its kind and its name."""

    kind: ActorKind
    name: str

    @classmethod
    def employee(cls, key: str) -> Actor:
        return cls(ActorKind.EMPLOYEE, key)

    @classmethod
    def cli(cls, name: str) -> Actor:
        return cls(ActorKind.CLI, name or CLI)

    @classmethod
    def sender(cls, name: str) -> Actor:
        return cls(ActorKind.SENDER, name)


SYSTEM_ACTOR = Actor(ActorKind.SYSTEM, SYSTEM)
