"""A meeting invitation (text/calendar, RFC 5545) made readable: what, when, where.

Kept as an .ics attachment as well; this is only what staff read when the invitation
came without a text of its own.
"""

from __future__ import annotations

import re

from channels.email_charset import decode_guess

# An invitation is small; a calendar past this is an export, not a letter.
_MAX_BYTES = 256 * 1024
_MAX_EVENTS = 5
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})\d{0,2}(Z?))?")
_ESCAPE = re.compile(r"\\([\\;,nN])")


def _split(line: str) -> tuple[str, str] | None:
    """Name with parameters, and value: split at the first colon outside quotes (ALTREP="https://...")."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:index], line[index + 1 :]
    return None


def _properties(text: str) -> list[tuple[str, str, str]]:
    """(NAME, parameters, value) of each content line, folded lines unfolded."""
    found: list[tuple[str, str, str]] = []
    for line in re.sub(r"\r?\n[ \t]", "", text).splitlines():
        split = _split(line)
        if split is not None:
            key, _, params = split[0].partition(";")
            found.append((key.strip().upper(), params, split[1]))
    return found


def _text(value: str) -> str:
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value).strip()


def _when(value: str) -> str:
    match = _DATE.match(value.strip())
    if match is None:
        return value.strip()
    year, month, day, hour, minute, utc = match.groups()
    if hour is None:
        return f"{year}-{month}-{day}"
    return f"{year}-{month}-{day} {hour}:{minute}" + (" UTC" if utc else "")


def _event(props: dict[str, str]) -> str:
    start, end = props.get("DTSTART"), props.get("DTEND")
    when = " – ".join(_when(v) for v in (start, end) if v)
    head = [_text(props.get("SUMMARY", "")), when, _text(props.get("LOCATION", ""))]
    lines = "\n".join(line for line in head if line)
    description = _text(props.get("DESCRIPTION", ""))
    return f"{lines}\n\n{description}".strip() if description else lines


def calendar_summary(data: bytes) -> str:
    """The events of an iCalendar object as text, "" when it holds none."""
    events: list[str] = []
    current: dict[str, str] | None = None
    for name, _params, value in _properties(decode_guess(data[:_MAX_BYTES])):
        if name == "BEGIN" and value.strip().upper() == "VEVENT":
            current = {}
        elif name == "END" and value.strip().upper() == "VEVENT" and current is not None:
            events.append(_event(current))
            current = None
        elif current is not None and name not in current:
            current[name] = value
        if len(events) >= _MAX_EVENTS:
            break
    return "\n\n".join(e for e in events if e)
