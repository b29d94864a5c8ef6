"""The checks across sections of the configuration: references to employees, unique keys, webhook paths."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.actors import RESERVED_ACTORS

if TYPE_CHECKING:
    from ingest.config.office import EmployeeSettings
    from ingest.config.settings import Settings


def check_cross_references(settings: Settings) -> None:
    """Raise ValueError naming the first key whose value does not fit the rest of the configuration.

    Each section is valid on its own by then; what is checked here needs two of
    them (an employee key used in routing, a topic or an absence must be one of
    the employees). ``ingest check-config`` reports the message with its key.
    """
    keys = [e.key for e in settings.employees]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"employees: duplicate key {duplicates[0]!r}")
    reserved = sorted(set(keys) & RESERVED_ACTORS)
    if reserved:
        i = keys.index(reserved[0])
        raise ValueError(f"employees[{i}].key: {reserved[0]!r} is reserved for the service's own actions")
    known = set(keys)

    def need(where: str, key: str | None) -> None:
        if key is not None and key not in known:
            raise ValueError(f"{where}: unknown employee {key!r}")

    need("routing.fallback_employee", settings.routing.fallback_employee)
    need("routing.board_member", settings.routing.board_member)
    _check_webhook_paths(settings)
    for i, emp in enumerate(settings.employees):
        need(f"employees[{i}].supervisor", emp.supervisor)
        need(f"employees[{i}].deputy", emp.deputy)
    topic_keys = [t.key for t in settings.topics]
    for i, topic in enumerate(settings.topics):
        if topic_keys.count(topic.key) > 1:
            raise ValueError(f"topics[{i}].key: duplicate topic {topic.key!r}")
        for emp_key in topic.employees:
            need(f"topics[{i}].employees", emp_key)
    for i, absence in enumerate(settings.absences):
        need(f"absences[{i}].employee", absence.employee)
    _check_routing_positions(settings)
    if "submission" in settings.staff_replies.accept and not settings.smtp_submission.enabled:
        raise ValueError('staff_replies.accept: "submission" needs [smtp_submission] enabled = true')


def _check_routing_positions(settings: Settings) -> None:
    """Whoever routing can give an inquiry (or its client's text) to must be active and see inquiries.

    An ``admin`` sees no inquiry and an inactive employee no longer works here: routing to
    them would e-mail them the client's text and leave the inquiry with nobody who may answer.
    """
    staff = {e.key: e for e in settings.employees}

    def fit(where: str, key: str | None) -> None:
        emp = staff.get(key) if key is not None else None
        if emp is None:
            return
        if emp.role == "admin":
            raise ValueError(f"{where}: {key!r} is an admin, who sees no inquiry; choose another employee")
        if not emp.active:
            raise ValueError(f"{where}: {key!r} is not active; choose another employee")

    routed: dict[str, str] = {}
    for where, key in _routing_positions(settings):
        fit(where, key)
        routed.setdefault(key, where)
    for i, emp in enumerate(settings.employees):
        # A deputy stands in for someone routing can choose; a supervisor is told of their overdue inquiries.
        if emp.key in routed:
            fit(f"employees[{i}].deputy", emp.deputy)
        if _receives_inquiries(emp):
            fit(f"employees[{i}].supervisor", emp.supervisor)


def _routing_positions(settings: Settings) -> list[tuple[str, str]]:
    positions = [("routing.fallback_employee", settings.routing.fallback_employee)]
    if settings.routing.board_member is not None:
        positions.append(("routing.board_member", settings.routing.board_member))
    for i, topic in enumerate(settings.topics):
        positions.extend((f"topics[{i}].employees", key) for key in topic.employees)
    return positions


def _receives_inquiries(emp: EmployeeSettings) -> bool:
    return emp.active and emp.role != "admin"


def _check_webhook_paths(settings: Settings) -> None:
    # Both webhooks on one path: the first mounted would answer the other's requests (403).
    twilio, cloud = settings.twilio, settings.whatsapp_cloud
    if (
        cloud.enabled
        and twilio.enabled
        and cloud.path in (twilio.inbound_path, twilio.status_path, settings.calls.voice_status_path)
    ):
        raise ValueError("whatsapp_cloud.path: must differ from the Twilio webhook paths")


def untranslated_details(settings: Settings) -> list[tuple[str, str]]:
    """(``employees[i].field``, languages) of each client-facing employee detail without a text in a
    client language: clients writing in it read the Latvian one. Not an error: a warning."""
    from ingest.config.fields import missing_languages

    found = [
        (where, ", ".join(missing))
        for where, value in (
            ("service.name", settings.service.name),
            ("outgoing_mail.from_name", settings.outgoing_mail.from_name),
        )
        if (missing := missing_languages(value))
    ]
    for i, emp in enumerate(settings.employees):
        if not _receives_inquiries(emp):
            continue
        for name in ("position", "location", "reception_hours"):
            missing = missing_languages(getattr(emp, name))
            if missing:
                found.append((f"employees[{i}].{name} ({emp.key})", ", ".join(missing)))
    return found
