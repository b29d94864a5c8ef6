"""Who may see and change which inquiry (policy clauses 5.1.2 and 13), decided in one place.

- employee: the inquiries assigned to them and those they handled before (routed to them,
  reassigned away from them, or an event they made as themselves, logged in or by an e-mail
  proven theirs in reply to a notification sent to them: an answer, a note, a change;
  storage/actors.py), but never a complaint that
  names them, not even when it is assigned to them;
- supervisor: every inquiry but complaints;
- board: everything;
- admin: no inquiry at all.

:func:`visible` is a SQL condition on ``inquiry``, so lists, counts and searches
filter in the database; :func:`can_see` asks the same condition about one
inquiry, so a single read can never disagree with a list.

Which employees a complaint names is what the router recorded when it routed
the complaint (``routed`` event, ``facts.employees_named``). A name that appears
only in a later message of the same inquiry is not recorded, and is not seen here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Text, and_, cast, exists, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from ingest.api.auth import Principal
from storage import inquiry_repo
from storage.actors import ActorKind
from storage.models import Event, Inquiry, Kind
from storage.staff_models import Role


class Action(StrEnum):
    ANSWER = "answer"
    NOTE = "note"
    REASSIGN = "reassign"
    COMPLEXITY = "complexity"
    WAITING = "waiting"
    CLOSE = "close"
    REOPEN = "reopen"
    MERGE = "merge"


def _named_in_routing(key: str, dialect: str) -> ColumnElement[bool]:
    """The inquiry's routing recorded ``key`` among the employees its text names."""
    named: ColumnElement[Any]
    if dialect == "sqlite":
        named = func.json_extract(col(Event.data), "$.facts.employees_named")
    else:
        # PostgreSQL's json type keeps the text as stored: ["a", "b"].
        named = cast(col(Event.data)[("facts", "employees_named")], Text)
    # Keys are [a-z0-9_.-]: quoted, they match one array element exactly (autoescape takes _ literally).
    return exists(
        select(col(Event.id)).where(
            col(Event.inquiry_id) == col(Inquiry.id),
            col(Event.type).in_(inquiry_repo.ROUTING_FACT_EVENTS),
            named.contains(f'"{key}"', autoescape=True),
        )
    )


def _handled_before(key: str) -> ColumnElement[bool]:
    data = col(Event.data)
    # Only an event typed as an employee's is theirs: a command-line user whose --actor equals the
    # key, the service's own names ("system", ...) and a From nothing proves are nobody's doing.
    acted = and_(col(Event.actor_kind) == ActorKind.EMPLOYEE.value, col(Event.actor) == key)
    return exists(
        select(col(Event.id)).where(
            col(Event.inquiry_id) == col(Inquiry.id),
            or_(
                acted,
                and_(col(Event.type) == "routed", data["employee"].as_string() == key),
                and_(col(Event.type) == "reassigned", data["from"].as_string() == key),
            ),
        )
    )


def visible(principal: Principal, dialect: str) -> ColumnElement[bool]:
    """The SQL condition: ``principal`` may see the inquiry row."""
    if principal.role == Role.BOARD:
        return true()
    if principal.role == Role.SUPERVISOR:
        return col(Inquiry.kind) != Kind.COMPLAINT.value
    if principal.role == Role.EMPLOYEE:
        theirs = or_(col(Inquiry.employee_id) == principal.employee_id, _handled_before(principal.key))
        names_them = and_(col(Inquiry.kind) == Kind.COMPLAINT.value, _named_in_routing(principal.key, dialect))
        return and_(theirs, not_(names_them))
    return false()


def can_see(session: Session, principal: Principal, inquiry: Inquiry) -> bool:
    dialect = session.get_bind().dialect.name
    found = session.execute(
        select(col(Inquiry.id)).where(col(Inquiry.id) == inquiry.id, visible(principal, dialect))
    ).first()
    return found is not None


def can_act(session: Session, principal: Principal, inquiry: Inquiry, action: Action) -> bool:
    """Whether ``principal`` may make this change (they must also see the inquiry)."""
    if not can_see(session, principal, inquiry):
        return False
    assigned = inquiry.employee_id == principal.employee_id
    if action == Action.ANSWER:
        # Only the responsible employee answers the client (as with replies by e-mail).
        return assigned
    if action == Action.NOTE:
        return True
    # Reassigning, complexity, the client clock, closing, reopening and merging: the assignee, or
    # a supervisor or the board.
    return assigned or principal.role in (Role.SUPERVISOR, Role.BOARD)


def can_merge(session: Session, principal: Principal, source: Inquiry, target: Inquiry) -> bool:
    """Merging changes both inquiries (one is closed, the other takes its messages): the caller
    must be allowed to act on each, as for closing."""
    return can_act(session, principal, source, Action.MERGE) and can_act(session, principal, target, Action.MERGE)
