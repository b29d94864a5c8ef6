"""Text that every database can store: NUL characters removed from a normalised message."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from channels.base import InboundMessage


def storable(inbound: InboundMessage) -> InboundMessage:
    """The message with every string PostgreSQL can store: NUL characters (broken mailers, fuzzed
    webhooks) would fail the insert, in the text as much as in a filename or a WhatsApp id."""
    cleaned = _without_nul(inbound)
    assert isinstance(cleaned, InboundMessage)
    return cleaned


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, tuple):
        return tuple(_without_nul(v) for v in value)
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, Mapping):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _without_nul(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value
