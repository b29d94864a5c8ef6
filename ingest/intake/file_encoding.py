"""The encoding of a text file from elsewhere (call logs): given, or detected without a library.

Exports from Latvian offices come as UTF-8 (with or without a byte-order mark), as UTF-16 from
Excel's "Unicode text", or as windows-1257, the Baltic Windows code page; charset-normalizer
would guess among a hundred code pages where there are three to tell apart.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator


class EncodingError(Exception):
    """The file cannot be read at all in the encoding (a UTF-16 file with a broken sequence)."""


# What detection may answer, as people know them; the codec name Python decodes with.
UTF8, UTF8_BOM, UTF16, BALTIC = "UTF-8", "UTF-8 with BOM", "UTF-16", "windows-1257"
CODECS = {UTF8: "utf-8", UTF8_BOM: "utf-8", UTF16: "utf-16", BALTIC: "cp1257"}


def detect_encoding(data: bytes) -> str:
    """The file's encoding: its byte-order mark, else UTF-8 if it is UTF-8, else windows-1257.

    A file of UTF-8 with a few broken lines stays UTF-8 (those lines are rejected), so that one
    bad line cannot turn every "ā" in the others into "Ä\x81": the file is taken as windows-1257
    only when its lines that fail as UTF-8 outnumber those that prove it (non-ASCII UTF-8).
    """
    if data.startswith(codecs.BOM_UTF8):
        return UTF8_BOM
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and _decodes(data, "utf-16"):
        return UTF16
    if _decodes(data, "utf-8"):
        return UTF8
    proof = broken = 0
    for raw in data.split(b"\n"):
        if raw.isascii():
            continue
        if _decodes(raw, "utf-8"):
            proof += 1
        else:
            broken += 1
    return UTF8 if proof >= broken else BALTIC


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def check_encoding(name: str) -> str:
    """A text codec Python knows, by any of its names (``cp1257``, ``windows-1257``, ``utf-8-sig``)."""
    try:
        # Empty input is not looked up at all; base64 and the like decode bytes to bytes.
        if not codecs.lookup(name)._is_text_encoding:
            raise LookupError(name)
    except LookupError:
        raise EncodingError(f"unknown encoding {name!r}") from None
    return name


def _as_utf8(data: bytes, codec: str) -> bytes:
    """UTF-16 and UTF-32 put NULs inside every line: decoded whole and re-encoded before splitting."""
    try:
        return data.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"the file is not {codec} text (byte {exc.start + 1})") from None


def physical_lines(data: bytes, encoding: str | None = None) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text or None when it cannot be decoded, reason) per non-blank line.

    ``encoding``: a codec name (checked with :func:`check_encoding`) or a label of
    :func:`detect_encoding`; None detects it. Raises EncodingError at once, not when iterated,
    for a file that cannot be split into lines in that encoding."""
    label = encoding or detect_encoding(data)
    codec = CODECS.get(label, label)
    if codecs.lookup(codec).name.startswith(("utf-16", "utf-32")):
        data, codec = _as_utf8(data, codec), "utf-8"
    if codecs.lookup(codec).name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    return _decoded(data, codec, label)


def _decoded(data: bytes, codec: str, label: str) -> Iterator[tuple[int, str | None, str]]:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            yield number, raw.decode(codec), ""
        except UnicodeDecodeError as exc:
            yield number, None, f"not {label} text (byte {exc.start + 1})"
