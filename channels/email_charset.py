"""Decoding a mail's text whatever its charset label says: missing, wrong, or unknown to Python."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

import webencodings

# Labels that programs use for a larger charset than they name (as browsers also assume):
# GBK text labelled gb2312, Windows text labelled ISO-8859-1.
_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
}  # fmt: skip
# WHATWG encodings that hold no text a mail program writes.
_NOT_TEXT = frozenset({"replacement", "x-user-defined"})
# A byte of 0xC0-0xFF (lowercase form) whose windows-1257 letter is frequent in Latvian or
# Lithuanian while its windows-1252 one is rare anywhere (ā/â, ē/ç, ī/î, š/ð, ū/û, ž/þ, ...),
# and the other way round (á/į, í/ķ, ñ/ń, ú/ś, ...), with é and ß, alike in both but never
# Baltic. Other bytes read alike (ä ö ü õ, Estonian as much as German) say nothing.
_BALTIC_BYTES = frozenset(b"\xe2\xe7\xee\xf0\xfb\xfe\xf2\xef\xec\xeb")
_WESTERN_BYTES = frozenset(b"\xe0\xe1\xe3\xe6\xe9\xea\xed\xf1\xf4\xf8\xf9\xfa\xfd\xdf")
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")
_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass
class ParseState:
    """What one call of parse_email collects on the way (its notes, its charset hint); never kept beyond it."""

    defects: list[str] = field(default_factory=list)
    # Charset the sender's program declared for its text, the best guess for raw 8-bit headers.
    header_hint: str | None = None

    def note(self, what: str) -> None:
        if what not in self.defects:
            self.defects.append(what)


def _text_codec(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    # codecs.lookup also finds bytes-to-bytes codecs (base64, zlib) that are no charset.
    if getattr(info, "_is_text_encoding", True) is False:
        return None
    return info.name


def codec_for(charset: str | None) -> str | None:
    """Python's codec name for a MIME charset, or None when there is no text codec for it.

    Python's own aliases first (they know utf-7 and the ISO-2022 family, which browsers refuse),
    then the WHATWG encoding standard's labels (iso-8859-8-i, x-cp1257, unicode-1-1-utf-8, ...).
    """
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    codec = _text_codec(_SUPERSETS.get(name, name))
    if codec is not None:
        return codec
    try:
        encoding = webencodings.lookup(name)
    except Exception:  # a label of characters the table cannot even compare
        return None
    if encoding is None or encoding.name in _NOT_TEXT:
        return None
    codec = str(encoding.codec_info.name)
    return _text_codec(_SUPERSETS.get(codec, codec))


def _legacy_codec(data: bytes) -> str:
    """The single-byte code page that most likely wrote these bytes, for a Latvian office.

    Cyrillic words are runs of high bytes; Latin letters with diacritics stand alone between
    ASCII ones. Latin text is windows-1257 unless its letters say Western European; Cyrillic
    is windows-1251 (lowercase at 0xE0-0xFF) or KOI8-R (lowercase at 0xC0-0xDF).
    """
    runs = _HIGH_RUN.findall(data)
    high = sum(len(r) for r in runs)
    if runs and high >= 3 * len(runs):
        upper_half = sum(1 for r in runs for b in r if b >= 0xE0)
        lower_half = sum(1 for r in runs for b in r if 0xC0 <= b < 0xE0)
        return "cp1251" if upper_half >= lower_half else "koi8-r"
    baltic = western = 0
    for run in runs:
        for byte in run:
            letter = byte | 0x20 if 0xC0 <= byte <= 0xDE else byte
            baltic += letter in _BALTIC_BYTES
            western += letter in _WESTERN_BYTES
    return "cp1252" if western > baltic else "cp1257"


def _decode_line(line: bytes, legacy: str) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lenient = line.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for ch in lenient if ord(ch) > 127) - bad
    if good >= 2 and good >= 2 * bad:
        # Mostly valid UTF-8 with a stray byte (a name cut mid-character): a legacy
        # reading would garble every letter to save one.
        return lenient
    for name in (legacy, "cp1252"):
        try:
            return line.decode(name)
        except Exception:  # wrong bytes for it, or a declared codec that decodes nothing (undefined, idna)
            continue
    return line.decode("latin-1")


def decode_guess(data: bytes, hint: str | None = None) -> str:
    """Bytes of unknown or wrongly declared charset: UTF-8 where valid, else a legacy code page.

    Line by line, since a UTF-8 text often carries a legacy line (a signature or footer added by
    another program). The code page is the hint (what the same program declared elsewhere) when
    it is a legacy one, else guessed from the bytes that are not UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lines = data.splitlines(keepends=True)
    legacy = codec_for(hint)
    if legacy is None or legacy in ("ascii", "utf-8"):
        legacy = _legacy_codec(b"".join(line for line in lines if not _is_utf8(line)))
    return "".join(_decode_line(line, legacy) for line in lines)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_text(data: bytes, charset: str | None, state: ParseState, where: str) -> str:
    codec = codec_for(charset) if charset else "ascii"
    if codec is None:
        state.note(f"{where}: unknown charset {charset!r}, read as UTF-8 or a guessed legacy charset")
        return decode_guess(data)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except Exception:  # a codec such as "undefined" refuses every input
        state.note(f"{where}: charset {charset!r} cannot decode text")
        return decode_guess(data)
    if codec == "ascii":
        # Undeclared or "us-ascii" 8-bit text is usually UTF-8 or the sender's Windows code page.
        return decode_guess(data, state.header_hint)
    if codec == "utf-8":
        # Declared UTF-8 holding legacy bytes: a program that did not convert what it quoted or
        # appended, or one that mislabels its code page. Read them, do not replace them.
        state.note(f"{where}: text is not valid utf-8, the other lines read as a legacy charset")
        return decode_guess(data, state.header_hint)
    try:
        # Programs that declare a legacy charset and then write UTF-8 are common.
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    state.note(f"{where}: text is not valid {charset}, undecodable bytes replaced")
    try:
        return data.decode(codec, errors="replace")
    except Exception:
        return data.decode("utf-8", errors="replace")


def has_surrogates(value: str) -> bool:
    return _SURROGATE.search(value) is not None


def _q_escape(word: re.Match[str]) -> str:
    return re.sub("[\udc80-\udcff]", lambda c: f"={ord(c.group()) - 0xDC00:02X}", word.group())


def repair_8bit(value: str, hint: str | None) -> str:
    """A header with raw 8-bit bytes decoded by charset guess.

    Some programs (Eudora) even put raw bytes inside Q encoded-words; those are
    re-escaped first so that the encoded-word's own charset decodes them.
    """
    if not has_surrogates(value):
        return value
    value = re.sub(r"=\?[^?\s]+\?[Qq]\?[^?\s]*\?=", _q_escape, value)
    if not has_surrogates(value):
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        # Mixed real non-ASCII text and escaped bytes; keep what can be kept.
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return decode_guess(data, hint)


def clean(text: str, state: ParseState) -> str:
    """Decoded text for people: bytes the parser could not decode (left surrogate-escaped) guessed."""
    if not has_surrogates(text):
        return text
    try:
        return decode_guess(text.encode("utf-8", "surrogateescape"), state.header_hint)
    except UnicodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
