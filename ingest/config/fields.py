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


LANGUAGES = ("lv", "ru", "en")


def _latvian_first(value: str | dict[str, str]) -> str | dict[str, str]:
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unknown language {unknown[0]!r}; use {', '.join(LANGUAGES)}")
        if not value.get("lv"):
            raise ValueError('the Latvian text is required ({lv = "…", ru = "…", en = "…"})')
    return value


# A text the client reads in their language: one string (Latvian, used for every language) or one
# per language, `{lv = "…", ru = "…", en = "…"}`, Latvian required.
Localized = Annotated[str | dict[str, str], AfterValidator(_latvian_first)]


def in_language(value: str | dict[str, str] | None, language: str) -> str | None:
    """The text in ``language``; the Latvian one when there is none in it."""
    if value is None or isinstance(value, str):
        return value
    return value.get(language) or value["lv"]


def missing_languages(value: str | dict[str, str] | None) -> list[str]:
    """The client languages a text has no translation for (a plain string has none)."""
    if value is None:
        return []
    return [lang for lang in LANGUAGES if lang != "lv" and (isinstance(value, str) or not value.get(lang))]
