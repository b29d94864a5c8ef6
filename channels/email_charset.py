"""Decoding a mail's text whatever its charset label says: missing, wrong, or unknown to Python."""

from __future__ import annotations

import codecs
import email.header
import re
from dataclasses import dataclass, field

_FALLBACK_CHARSETS = ("cp1252", "latin-1")
# Labels that programs use for a larger charset than they name (as browsers also assume):
# GBK text labelled gb2312, Windows text labelled ISO-8859-1.
_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
}  # fmt: skip


@dataclass
class ParseState:
    """What one call of parse_email collects on the way (its notes, its charset hint); never kept beyond it."""

    defects: list[str] = field(default_factory=list)
    # Charset the sender's program declared for its text, the best guess for raw 8-bit headers.
    header_hint: str | None = None

    def note(self, what: str) -> None:
        if what not in self.defects:
            self.defects.append(what)


def codec_for(charset: str | None) -> str | None:
    """Python's codec name for a MIME charset, or None when Python has no text codec for it."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = _SUPERSETS.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    # codecs.lookup also finds bytes-to-bytes codecs (base64, zlib) that are no charset.
    if getattr(info, "_is_text_encoding", True) is False:
        return None
    return info.name


def _decode_guess(data: bytes, hint: str | None = None) -> str:
    """Bytes of unknown charset: UTF-8 when valid, else the hint, else Western European.

    Baltic senders would be better served by windows-1257 than cp1252, but the
    two cannot be told apart from the bytes alone; the hint (the charset the same
    program declared for the body) settles it where there is one.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for ch in lenient if ord(ch) > 127) - bad
    if good >= 2 and good >= 2 * bad:
        # Mostly valid UTF-8 with a stray byte (a name cut mid-character): a legacy
        # reading would garble every letter to save one.
        return lenient
    for name in (hint, *_FALLBACK_CHARSETS):
        if not name:
            continue
        try:
            return data.decode(name)
        except (UnicodeError, LookupError):
            continue
    return data.decode("latin-1")  # pragma: no cover - latin-1 decodes any bytes


def decode_text(data: bytes, charset: str | None, state: ParseState, where: str) -> str:
    codec = codec_for(charset) if charset else "ascii"
    if codec is None:
        state.note(f"{where}: unknown charset {charset!r}, read as UTF-8 or Latin-1")
        return _decode_guess(data, "latin-1")
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except Exception:  # a codec such as "undefined" refuses every input
        state.note(f"{where}: charset {charset!r} cannot decode text")
        return _decode_guess(data)
    if codec == "ascii":
        # Undeclared or "us-ascii" 8-bit text is usually UTF-8 or the sender's Windows code page.
        return _decode_guess(data, state.header_hint)
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
    return any("\udc80" <= ch <= "\udcff" for ch in value)


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
    return _decode_guess(data, hint)


def clean(text: str, state: ParseState) -> str:
    """Decoded text for people: bytes the parser could not decode (left surrogate-escaped) guessed."""
    if not has_surrogates(text):
        return text
    try:
        return _decode_guess(text.encode("utf-8", "surrogateescape"), state.header_hint)
    except UnicodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def decode_words(value: str) -> str:
    """Encoded-words decoded the lenient compat32 way, when the modern parser has failed."""
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # an unknown charset in an encoded-word, or a broken encoded-word
        pass
    try:
        chunks = email.header.decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in chunks:
        codec = codec_for(charset)
        if isinstance(chunk, str):
            out.append(chunk)
        elif codec is None:
            out.append(_decode_guess(chunk))
        else:
            try:
                out.append(chunk.decode(codec, "replace"))
            except Exception:  # codecs such as "undefined" raise even with errors="replace"
                out.append(_decode_guess(chunk))
    return " ".join(o.strip() for o in out)


def widen_word_charsets(value: str) -> str:
    """Encoded-words get the same superset charsets as bodies, before the standard parser reads them."""
    if "=?" not in value:
        return value
    return re.sub(
        r"=\?([^?*\s]+)(\*[^?]*)?\?",
        lambda m: f"=?{_SUPERSETS.get(m.group(1).lower(), m.group(1))}{m.group(2) or ''}?",
        value,
    )
