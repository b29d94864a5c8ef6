"""Lifting the files that old mail programs embed in plain text as uuencoded blocks out of that text."""

from __future__ import annotations

import binascii
import bisect
import mimetypes
import re

_UU_BEGIN = re.compile(r"^begin [0-7]{3,4}(?: +(\S.*?))?\s*$")
# Only the built-in table: the system's mime.types differs between machines.
_GUESS_TYPES = mimetypes.MimeTypes()


def _uu_line(line: str) -> bytes:
    try:
        return binascii.a2b_uu(line)
    except ValueError:  # binascii.Error, or a non-ASCII character
        # Some encoders pad lines with garbage; the length byte says how much is real.
        count = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3 if line else 0
        try:
            return binascii.a2b_uu(line[:count])
        except ValueError:
            return b""


def split_uuencoded(text: str) -> tuple[str, list[tuple[str | None, bytes]]]:
    """Old mail programs embed files as uuencoded blocks in the text; lift them out as files."""
    if "begin " not in text:
        return text, []
    lines = text.split("\n")
    ends = [j for j, line in enumerate(lines) if line.strip() == "end"]
    kept: list[str] = []
    files: list[tuple[str | None, bytes]] = []
    i = 0
    while i < len(lines):
        match = _UU_BEGIN.match(lines[i])
        end = _uu_end(ends, i) if match else None
        if match is None or end is None or not _looks_uuencoded(lines[i + 1 : end]):
            kept.append(lines[i])
            i += 1
            continue
        data = b"".join(_uu_line(line.rstrip("\r")) for line in lines[i + 1 : end] if line.strip() != "`")
        name = re.split(r"[\\/]", match.group(1))[-1] if match.group(1) else None
        files.append((name or None, data))
        i = end + 1
    return "\n".join(kept), files


def _looks_uuencoded(lines: list[str]) -> bool:
    """Only a block of well-formed uuencoded lines is a file; a client's "begin ... end" is prose."""
    for line in (raw.rstrip("\r") for raw in lines):
        if not line or line == "`":
            continue
        count = (ord(line[0]) - 32) & 63
        if not line.isascii() or not 32 <= ord(line[0]) <= 96 or len(line) < 1 + (count + 2) // 3 * 4:
            return False
    return True


def guess_type(filename: str | None) -> str:
    """A uuencoded file declares no type; its name is the only clue."""
    guessed = _GUESS_TYPES.guess_type(filename, strict=False)[0] if filename else None
    return guessed or "application/octet-stream"


def _uu_end(ends: list[int], start: int) -> int | None:
    """The first "end" line after ``start`` (``ends``: their indexes, ascending; one search per begin)."""
    k = bisect.bisect_right(ends, start)
    return ends[k] if k < len(ends) else None
