"""The ``phone`` channel: call records (Twilio Voice status callbacks, Asterisk CDR, a CSV export).

A receipt's raw bytes are one JSON document per call, written by the receiver
(the Twilio voice webhook, ``ingest import-calls``)::

    {"source": "twilio-voice" | "asterisk" | "csv",
     "call_id": "...",              # CallSid, Asterisk uniqueid, the CSV's id or a hash of the row
     "from": "+37120000001",        # the caller, E.164 where it could be made so
     "from_raw": "20000001",        # as the source gave it
     "caller_name": "..." | null,
     "to": "+37167000100",
     "start": "2026-11-25T10:15:03+02:00",   # when the call began (aware, ISO 8601)
     "answered": false,
     "duration": 0 | null,          # seconds
     "disposition": "NO ANSWER",    # the source's own word (CallStatus, disposition, status)
     "direction": "inbound" | "outbound" | null,
     "record": {...}}               # the source's fields as they came, for the record

The natural id is ``call:<source>:<call id>``: a retried callback or a re-imported
file is one receipt. Only a MISSED call from a client becomes an inquiry ("call
back"): an answered call, a call from an internal extension, an outgoing call and
a call from a withheld number are kept as automatic messages (no inquiry).

So is a missed call that was already too old when it was imported (``[calls]
callback_window``): the importer writes the moment of the import into the
receipt's meta (``imported_at``), and a call whose window had closed by then is
kept as ``late-call``. The decision is taken against that stamp, not against the
clock of whoever processes the receipt, so the import's report, a later
``--no-process`` run by the service and a retry all agree.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from channels.base import InboundMessage, UnprocessableReceipt
from router.calendar import WorkingCalendar

SOURCES = ("twilio-voice", "asterisk", "csv")
# Twilio CallStatus values that end a call; the others (queued, ringing, in-progress) are progress.
TWILIO_MISSED = frozenset({"no-answer", "busy", "failed", "canceled"})
TWILIO_FINAL = TWILIO_MISSED | {"completed"}
# Asterisk CDR dispositions of a call nobody took (CONGESTION: the line could not be reached).
ASTERISK_MISSED = frozenset({"NO ANSWER", "BUSY", "FAILED", "CONGESTION"})
ASTERISK_ANSWERED = frozenset({"ANSWERED"})
DEFAULT_INTERNAL = r"^\d{1,4}$"
# Withheld caller ids as sources write them (+266696687 is how Twilio shows "anonymous").
WITHHELD = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld", "+266696687"})

SUBJECT = "Neatbildēts zvans"
# How the call ended, in the office's words (the sources write English codes: Twilio, Asterisk, CSV).
DISPOSITIONS_LV = {
    "no-answer": "neviens neatbildēja", "no answer": "neviens neatbildēja", "missed": "neviens neatbildēja",
    "busy": "aizņemts", "failed": "savienojums neizdevās", "congestion": "līnija pārslogota",
    "canceled": "zvanītājs nolika klausuli", "cancelled": "zvanītājs nolika klausuli",
    "abandoned": "zvanītājs nolika klausuli", "voicemail": "balss pasts",
}  # fmt: skip
# The automatic kind of a missed call imported after its call-back window closed.
LATE_CALL = "late-call"
# Longer than any window the configuration allows (30 working days): older calls are outside
# without asking the calendar, which also keeps year-1 dates away from it.
_OUTSIDE_ANY_WINDOW = timedelta(days=120)
# A duration in whole seconds, as sources write it.
_SECONDS = re.compile(r"^[0-9]{1,9}$")


def normalise_number(value: str) -> str:
    """E.164 where possible: ``+371 2000 0001``, ``0037120000001``, ``37120000001`` and ``20000001``
    are all ``+37120000001`` (a Latvian local number has 8 digits and starts with 2 or 6).
    Anything else comes back without separators, as it was."""
    text = re.sub(r"[\s().\-/]", "", value.strip())
    if text.lower().startswith(("tel:", "sip:")):
        text = text[4:].split("@", 1)[0]
    if text.startswith("00") and text[2:].isdigit():
        return "+" + text[2:]
    if text.startswith("+"):
        return text
    if text.isdigit():
        if len(text) == 8 and text[0] in "26":
            return "+371" + text
        if len(text) == 11 and text.startswith("371") and text[3] in "26":
            return "+" + text
    return text


def is_internal(number: str, pattern: str = DEFAULT_INTERNAL) -> bool:
    """An extension of the office's own telephone system (default: 4 digits or fewer)."""
    return bool(re.search(pattern, number.strip()))


def encode(document: Mapping[str, Any]) -> bytes:
    """The receipt's bytes: canonical JSON, so the same call is the same bytes."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def row_hash(fields: list[str]) -> str:
    """An id for a row that carries none: the hash of its fields."""
    return "sha256-" + hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()[:32]


def call_document(
    *,
    source: str,
    call_id: str,
    from_raw: str,
    to_raw: str,
    start: datetime,
    answered: bool,
    duration: int | None,
    disposition: str,
    caller_name: str | None = None,
    direction: str | None = None,
    record: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    if source not in SOURCES:
        raise ValueError(f"unknown call source {source!r}")
    if start.tzinfo is None:
        raise ValueError("the start time must carry its zone")
    return {
        "source": source,
        "call_id": call_id,
        "from": normalise_number(from_raw),
        "from_raw": from_raw,
        "caller_name": caller_name or None,
        "to": normalise_number(to_raw) if to_raw else "",
        "start": start.isoformat(),
        "answered": answered,
        "duration": duration,
        "disposition": disposition,
        "direction": direction,
        "record": dict(record or {}),
    }


def _first(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def twilio_call_document(fields: Mapping[str, list[str]], *, now: datetime) -> dict[str, Any] | None:
    """A Twilio Voice status callback (or ``<Dial>`` action callback) as a call document.

    None while the call is still in progress (initiated, ringing, answered events): only the
    final status is stored, so the first callback of a call cannot hide its outcome.
    """
    status = _first(fields, "CallStatus").lower()
    dial_status = _first(fields, "DialCallStatus").lower()
    # A <Dial> action callback tells whether the person dialled took the call; the parent
    # call itself is "completed" because Twilio answered it.
    outcome = dial_status or status
    if outcome not in TWILIO_FINAL and outcome != "answered":
        return None
    timestamp = _first(fields, "Timestamp")
    start = now
    if timestamp:
        try:
            start = parsedate_to_datetime(timestamp)
        except (TypeError, ValueError):
            start = now
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        try:
            start.astimezone(UTC)
        except (OverflowError, ValueError):  # year 9999 with a negative offset: no such moment in UTC
            start = now
    duration_text = _first(fields, "CallDuration") or _first(fields, "DialCallDuration")
    # ASCII digits only (str.isdigit() also takes "²", which int() refuses), and few of them
    # (int() refuses over 4300 digits).
    duration = int(duration_text) if _SECONDS.match(duration_text) else None
    direction = _first(fields, "Direction").lower()
    return call_document(
        source="twilio-voice",
        call_id=_first(fields, "CallSid"),
        from_raw=_first(fields, "From") or _first(fields, "Caller"),
        to_raw=_first(fields, "To") or _first(fields, "Called"),
        start=start,
        answered=outcome in ("completed", "answered"),
        duration=duration,
        disposition=outcome,
        caller_name=_first(fields, "CallerName") or None,
        direction="inbound" if direction == "inbound" else ("outbound" if direction.startswith("outbound") else None),
        record={k: v[0] if len(v) == 1 else v for k, v in fields.items()},
    )


@dataclass(frozen=True)
class CallbackWindow:
    """How long after a missed call a call back is still worth opening (``[calls] callback_window``)."""

    calendar: WorkingCalendar
    amount: int = 1
    unit: str = "days"  # or "hours"

    def closes_at(self, start: datetime) -> datetime:
        """Days end when a call back would have been due (the deadline rule); hours are working time."""
        if self.unit == "days":
            return self.calendar.due_at(start, self.amount)
        return self.calendar.add_working_time(start, timedelta(hours=self.amount))

    def is_open(self, start: datetime, now: datetime) -> bool:
        if now - start > _OUTSIDE_ANY_WINDOW:
            return False
        try:
            return now <= self.closes_at(start)
        except (ValueError, OverflowError):  # a date the calendar cannot place: not a call to return
            return False


def imported_at(meta: Mapping[str, Any]) -> datetime | None:
    """The moment the importer stamped on the receipt, if any (aware)."""
    value = meta.get("imported_at")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


@dataclass(frozen=True)
class CallChannel:
    """Call records to messages: a missed call from a client asks for a call back."""

    name: str = "phone"
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Riga"))
    internal_numbers: str = DEFAULT_INTERNAL
    # None: every missed call opens a call back, however old (Twilio callbacks carry no import stamp).
    callback_window: CallbackWindow | None = None

    @staticmethod
    def _document(raw: bytes) -> dict[str, Any]:
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise UnprocessableReceipt("call record is not UTF-8 JSON") from None
        if not isinstance(document, dict):
            raise UnprocessableReceipt("call record is not a JSON object")
        return document

    def natural_id(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        try:
            document = self._document(raw)
        except UnprocessableReceipt:
            document = {}
        source, call_id = str(document.get("source") or ""), str(document.get("call_id") or "")
        if source and call_id:
            return f"call:{source}:{call_id}"
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def _too_late(self, start: datetime, meta: Mapping[str, Any]) -> bool:
        stamp = imported_at(meta)
        if self.callback_window is None or stamp is None:
            return False
        return not self.callback_window.is_open(start, stamp)

    def normalise(self, raw: bytes, meta: Mapping[str, Any]) -> InboundMessage:
        document = self._document(raw)
        if document.get("source") not in SOURCES:
            raise UnprocessableReceipt("call record has no known source")
        if not document.get("call_id"):
            raise UnprocessableReceipt("call record has no call id")
        try:
            start = datetime.fromisoformat(str(document["start"]))
        except (KeyError, ValueError):
            raise UnprocessableReceipt("call record has no valid start time") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=self.tz)
        number = normalise_number(str(document.get("from") or ""))
        answered = bool(document.get("answered"))
        automatic, why = None, None
        if answered:
            automatic, why = "answered-call", "the call was answered"
        elif document.get("direction") == "outbound":
            automatic, why = "outbound-call", "a call made by the office"
        elif number.lower() in WITHHELD:
            automatic, why = "withheld-number", "the caller's number was withheld: it cannot be called back"
        elif is_internal(number, self.internal_numbers):
            automatic, why = "internal-call", "a call from an internal extension"
        elif self._too_late(start, meta):
            automatic, why = LATE_CALL, "imported after its call-back window closed: no call back is promised"
        local = start.astimezone(self.tz)
        text = f"Neatbildēts zvans no {number} {local:%d.%m.%Y %H:%M} — jāatzvana"
        disposition = str(document.get("disposition") or "")
        if disposition:
            text += f"\n(zvana iznākums: {DISPOSITIONS_LV.get(disposition.strip().lower(), disposition)})"
        return InboundMessage(
            channel=self.name,
            external_id=self.natural_id(raw, meta),
            sender_address=number,
            sender_name=(str(document.get("caller_name") or "").strip() or None),
            subject=f"{SUBJECT} no {number}" if not answered else f"Zvans no {number}",
            text=text if not answered else f"Atbildēts zvans no {number} {local:%d.%m.%Y %H:%M}",
            received_at=start,
            automatic=automatic,
            automatic_why=why,
            recipients=(str(document["to"]),) if document.get("to") else (),
            language_hint=None,
            extra={
                "source": document.get("source"),
                "call_id": document.get("call_id"),
                "answered": answered,
                "duration": document.get("duration"),
                "disposition": disposition,
            },
        )
