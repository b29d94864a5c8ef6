"""The employee as a client reads about them (policy 8, 10.3): name and surname as they are, and the
position, location and reception hours in the client's language when the configuration has them
(`position = {lv = "…", ru = "…"}`), the Latvian ones otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from storage.models import Employee

# employee key -> language -> field ("position", "location", "reception_hours") -> text
EmployeeTexts = Mapping[str, Mapping[str, Mapping[str, str | None]]]
FIELDS = ("position", "location", "reception_hours")


@dataclass(frozen=True)
class EmployeeCard:
    key: str
    name: str
    surname: str
    position: str
    email: str
    phone: str | None
    location: str | None
    reception_hours: str | None


def card(employee: Employee, texts: EmployeeTexts, language: str) -> EmployeeCard:
    """``employee`` with the client-facing details in ``language`` where there are any."""
    own = texts.get(employee.key, {}).get(language, {})
    return EmployeeCard(
        key=employee.key, name=employee.name, surname=employee.surname, email=employee.email, phone=employee.phone,
        position=own.get("position") or employee.position,
        location=own.get("location") or employee.location,
        reception_hours=own.get("reception_hours") or employee.reception_hours,
    )  # fmt: skip
