"""The policy the parser reads a message with: the standard library's compat32, headers unfolded.

``policy.default`` builds a header object (a full RFC 5322 parse) every time a header is read,
and the parser itself reads Content-Type several times per part: over a third of parsing a
plain message went there. The service reads the headers it needs through its own functions
(``channels/email_headers.py``, with ``policy.default``'s header factory where that is worth it),
so the structure is read with compat32's plain strings. Unlike compat32, a header is unfolded
(RFC 5322 3.2.2) before it is used: a boundary folded inside its quotes ("----=_NextPart CRLF
_000_...", as Outlook 2000 wrote it) is then the one in the body, as ``policy.default`` reads it.
"""

from __future__ import annotations

import re
from email.policy import Compat32
from typing import Any

_FOLD = re.compile(r"\r?\n(?=[ \t])")


class UnfoldingCompat32(Compat32):
    def header_fetch_parse(self, name: str, value: str) -> Any:
        return super().header_fetch_parse(name, _FOLD.sub("", value) if "\n" in value else value)


READING = UnfoldingCompat32()
