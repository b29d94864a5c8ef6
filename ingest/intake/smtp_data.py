"""Reading the text of an SMTP DATA command into a spool, line by line (RFC 5321 4.5.2).

aiosmtpd's own DATA reader keeps every line in a list, joins them and keeps the joined copy too:
two to three times a message's size in memory per session. This one writes each line, unstuffed
(a leading dot removed), to a :class:`~ingest.intake.spool.SpooledMessage` as it arrives, so a
session holds one line and at most the spool's threshold. Its limits answer as aiosmtpd's did:
a line longer than the line limit gets 500 and a message over the size limit 552, both after the
whole text has been read (RFC 5321 4.2.5), keeping nothing of it meanwhile.
"""

from __future__ import annotations

import asyncio
import enum
import logging

from ingest.intake.spool import SpooledMessage

log = logging.getLogger(__name__)

END = b".\r\n"


class DataState(enum.Enum):
    COMPLETE = enum.auto()
    TOO_LONG = enum.auto()  # a line over the limit: 500
    TOO_MUCH = enum.auto()  # over the size limit: 552
    NO_SPACE = enum.auto()  # the spool could not be written (disk full): 452, the sender retries


REFUSALS = {
    DataState.TOO_LONG: "500 Line too long (see RFC5321 4.5.3.1.6)",
    DataState.TOO_MUCH: "552 Error: Too much mail data",
    DataState.NO_SPACE: "452 4.3.1 Insufficient system storage, please try again later",
}


async def read_data(
    reader: asyncio.StreamReader, body: SpooledMessage, *, size_limit: int | None, line_limit: int
) -> DataState:
    """Read up to the lone dot into ``body`` and finish it; how it went. Over a limit, or when the
    spool cannot be written, ``body`` is discarded at once and the rest only counted. The size
    counts the lines as sent (dots included), as aiosmtpd and the SIZE extension (RFC 1870) do."""
    state = DataState.COMPLETE
    received = 0
    line_start = True  # the next bytes begin a line (only there can a dot end the text)
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as over:
            # The line is longer than the reader takes at once: it is too long; the part read is
            # thrown away and the rest of the line comes in the next rounds.
            line = await reader.read(over.consumed)
        if line_start and line == END:
            return state if state is not DataState.COMPLETE else _finished(body)
        received += len(line)
        complete = line.endswith(b"\r\n")
        if state is DataState.COMPLETE:
            if not complete or len(line) > line_limit:
                state = DataState.TOO_LONG
            elif size_limit and received > size_limit:
                state = DataState.TOO_MUCH
            else:
                state = _written(body, line[1:] if line.startswith(b".") else line)
            if state is not DataState.COMPLETE:
                body.discard()
        line_start = complete


def _written(body: SpooledMessage, line: bytes) -> DataState:
    try:
        body.write(line)
    except OSError as exc:  # a full disk is no reason to bounce the client's mail (5xx): 452
        log.error("smtp: could not write to the spool (%s); it is answered 452 once it has arrived", exc)
        return DataState.NO_SPACE
    return DataState.COMPLETE


def _finished(body: SpooledMessage) -> DataState:
    try:
        body.finish()
    except OSError as exc:
        log.error("smtp: could not write to the spool (%s); the message is answered 452", exc)
        body.discard()
        return DataState.NO_SPACE
    return DataState.COMPLETE
