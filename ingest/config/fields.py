"""Building blocks of the configuration sections: the strict base model and shared value checks."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict


class Section(BaseModel):
    """A table of the configuration file; a key it does not know is an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


def check_zone(value: str) -> str:
    """The name of an IANA time zone, as ``zoneinfo`` knows it."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _check_address(value: str) -> str:
    value = value.strip()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or "." not in domain or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return local + "@" + domain.lower()


EmailAddress = Annotated[str, AfterValidator(_check_address)]
