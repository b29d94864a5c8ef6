"""The checks across sections of the configuration: references to employees, unique keys, webhook paths."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def _check_webhook_paths(settings: Settings) -> None:
    # Both webhooks on one path: the first mounted would answer the other's requests (403).
    twilio, cloud = settings.twilio, settings.whatsapp_cloud
    if (
        cloud.enabled
        and twilio.enabled
        and cloud.path in (twilio.inbound_path, twilio.status_path, settings.calls.voice_status_path)
    ):
        raise ValueError("whatsapp_cloud.path: must differ from the Twilio webhook paths")
