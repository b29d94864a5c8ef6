"""Parsing a raw e-mail into what the service needs.

Clients write from every kind of mail program, some decades old, and a message
that cannot be read must still become an inquiry a person can look at. So
:func:`parse_email` never raises: every header and every part is read inside
its own guard, falls back to a more lenient reading when the strict one fails,
and the problem is noted in ``defects`` for whoever inspects the message later.
"""

from __future__ import annotations

import binascii
import bisect
import codecs
import email
import email.header
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from channels.base import InboundAttachment
from channels.html_text import html_to_text


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None  # without angle brackets; None when absent or empty
    in_reply_to: tuple[str, ...]  # ids without angle brackets
    references: tuple[str, ...]  # ids without angle brackets, oldest first as sent
    from_name: str | None  # decoded display name
    from_address: str | None  # local part as written, domain lowercased; None when unusable
    to: tuple[str, ...]  # addr-specs from To and Cc, normalised like from_address
    subject: str  # decoded, whitespace collapsed, "" when none
    date: datetime | None  # aware; None when absent or unparseable
    text: str  # what a person reads: the plain text, or the HTML made readable
    html: str | None  # the HTML body as sent (decoded), when there was one
    attachments: tuple[InboundAttachment, ...]
    auto_submitted: str | None  # Auto-Submitted lowercased; None when absent or "no"
    defects: tuple[str, ...]  # short notes on what was wrong with the message, for inspection


# Nesting deeper than this is an attack or a loop, not a client's letter.
_MAX_DEPTH = 40
# The standard header parser is quadratic on some inputs (thousands of encoded-words or quotes:
# tens of seconds for a few hundred kB); longer header values are read the lenient way.
_STRICT_HEADER_CHARS = 8192
_FALLBACK_CHARSETS = ("cp1252", "latin-1")
# Labels that programs use for a larger charset than they name (as browsers also assume):
# GBK text labelled gb2312, Windows text labelled ISO-8859-1.
_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
}  # fmt: skip
_SIGNATURE_TYPES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
# Labels of letters, digits and hyphens (any script: IDN domains are real), at least two of them.
_DOMAIN = re.compile(r"^(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_](?:[\w-]*[^\W_])?$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# The last resort for an address header no parser can read: anything shaped like local@domain.
_ADDR_SPEC = re.compile(r"[^\s<>()\[\],;:\"@]+@[^\s<>()\[\],;:\"@]+")


@dataclass
class _Leaf:
    part: Message
    content_type: str
    disposition: str | None
    filename: str | None
    parent: str  # content type of the enclosing multipart, "" at the top


@dataclass
class _State:
    """What one parse collects on the way; only ever used inside parse_email."""

    defects: list[str] = field(default_factory=list)
    # Charset the sender's program declared for its text, the best guess for raw 8-bit headers.
    header_hint: str | None = None

    def note(self, what: str) -> None:
        if what not in self.defects:
            self.defects.append(what)


# ---------------------------------------------------------------- text decoding


def _codec(charset: str | None) -> str | None:
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


def _decode_text(data: bytes, charset: str | None, state: _State, where: str) -> str:
    codec = _codec(charset) if charset else "ascii"
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


def _normalise_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


# ---------------------------------------------------------------- headers


def _raw_headers(msg: Message, name: str) -> list[str]:
    """The header's values as received (surrogate-escaped where they had 8-bit bytes), unfolded."""
    lname = name.lower()
    try:
        values = [str(v) for k, v in msg.raw_items() if str(k).lower() == lname]
    except Exception:
        return []
    return [re.sub(r"\r?\n(?=[ \t])", "", v).strip("\r\n") for v in values]


def _raw_header(msg: Message, name: str) -> str | None:
    values = _raw_headers(msg, name)
    return values[0] if values else None


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _q_escape(word: re.Match[str]) -> str:
    return re.sub("[\udc80-\udcff]", lambda c: f"={ord(c.group()) - 0xDC00:02X}", word.group())


def _repair_8bit(value: str, hint: str | None) -> str:
    """A header with raw 8-bit bytes decoded by charset guess.

    Some programs (Eudora) even put raw bytes inside Q encoded-words; those are
    re-escaped first so that the encoded-word's own charset decodes them.
    """
    if not _has_surrogates(value):
        return value
    value = re.sub(r"=\?[^?\s]+\?[Qq]\?[^?\s]*\?=", _q_escape, value)
    if not _has_surrogates(value):
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        # Mixed real non-ASCII text and escaped bytes; keep what can be kept.
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _decode_guess(data, hint)


def _clean(text: str, state: _State) -> str:
    """Decoded text for people: bytes the parser could not decode (left surrogate-escaped) guessed."""
    if not _has_surrogates(text):
        return text
    try:
        return _decode_guess(text.encode("utf-8", "surrogateescape"), state.header_hint)
    except UnicodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _decode_words(value: str) -> str:
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
        codec = _codec(charset)
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


def _widen_word_charsets(value: str) -> str:
    """Encoded-words get the same superset charsets as bodies, before the standard parser reads them."""
    if "=?" not in value:
        return value
    return re.sub(
        r"=\?([^?*\s]+)(\*[^?]*)?\?",
        lambda m: f"=?{_SUPERSETS.get(m.group(1).lower(), m.group(1))}{m.group(2) or ''}?",
        value,
    )


def _unstructured(msg: Message, name: str, state: _State) -> str | None:
    """A free-text header (Subject) fully decoded, or None when absent."""
    raw = _raw_header(msg, name)
    if raw is None:
        return None
    value = _widen_word_charsets(_repair_8bit(raw, state.header_hint))
    if state.header_hint == "utf-7" and "+" in value and "=?" not in value and value.isascii():
        # A program that wrote its text in UTF-7 wrote its raw headers in it too.
        try:
            value = value.encode("ascii").decode("utf-7")
        except UnicodeDecodeError:
            pass
    try:
        if len(value) > _STRICT_HEADER_CHARS:
            raise ValueError("too long for the standard parser")
        header = policy.default.header_factory(name, value)
        text = str(header)
        if _has_surrogates(text):
            raise ValueError("undecodable bytes left")
        _note_header_defects(name, header, state)
    except Exception:
        state.note(f"{name}: header unreadable by the standard parser, decoded leniently")
        text = _decode_words(value)
    return _clean(text, state)


def _describe(defect: object) -> str:
    detail = _collapse(str(defect))[:80]
    return f"{type(defect).__name__}: {detail}" if detail else type(defect).__name__


def _note_header_defects(name: str, header: object, state: _State) -> None:
    for defect in getattr(header, "defects", ()):
        state.note(f"{name}: {_describe(defect)}")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _normalise_address(addr: str) -> str | None:
    """Local part kept as written (it may be case-sensitive); the domain is not, so lowercase it.

    Only an address a reply could reach counts: a dotted domain (or an address
    literal) and no control characters or undecodable bytes.
    """
    addr = addr.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not local or not domain or not addr.isprintable() or _has_surrogates(addr):
        return None
    if not _DOMAIN.match(domain) and not (domain.startswith("[") and domain.endswith("]")):
        return None
    return f"{local}@{domain}"


def _addresses(msg: Message, name: str, state: _State) -> list[tuple[str, str | None]]:
    """(display name, normalised addr-spec) for each mailbox in every header of that name."""
    found: list[tuple[str, str | None]] = []
    for raw in _raw_headers(msg, name):
        value = _widen_word_charsets(_repair_8bit(raw, state.header_hint))
        try:
            if len(value) > _STRICT_HEADER_CHARS:
                raise ValueError("too long for the standard parser")
            header = policy.default.header_factory(name, value)
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
            _note_header_defects(name, header, state)
        except Exception:
            state.note(f"{name}: address header unreadable by the standard parser, read leniently")
            try:
                pairs = [(_decode_words(n), a) for n, a in getaddresses([value])]
            except Exception:  # deeply nested comments exhaust the recursive lenient reader too
                pairs = [("", a) for a in _ADDR_SPEC.findall(value)]
        found.extend((_clean(n or "", state), _normalise_address(a) if a else None) for n, a in pairs)
    return found


def _ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    bracketed = re.findall(r"<([^<>]*)>", value)
    ids = bracketed if bracketed else value.replace(",", " ").split()
    # Raw 8-bit bytes become U+FFFD, one per byte, as natural_id's compat32 reading has them:
    # the same id either way, and text the database can store.
    cleaned = (re.sub("[\udc80-\udcff]", "\ufffd", "".join(i.split())) for i in ids)
    return tuple(i for i in cleaned if i)


def _date(msg: Message, state: _State) -> datetime | None:
    raw = _raw_header(msg, "Date")
    if not raw or not raw.strip():
        return None
    try:
        value = parsedate_to_datetime(raw.strip())
    except Exception:
        state.note(f"Date: unparseable {raw.strip()[:60]!r}")
        return None
    # "-0000" means "zone unknown"; UTC is the only honest reading of that.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _auto_submitted(msg: Message) -> str | None:
    raw = _raw_header(msg, "Auto-Submitted")
    if raw is None:
        return None
    value = _collapse(raw).lower()
    if not value or value.split(";")[0].strip() == "no":
        return None
    return value


# ---------------------------------------------------------------- structure


def _compat_view(part: Message, hint: str | None = None) -> Message:
    """The part's headers in a compat32 message, whose parameter parsing never raises on odd values.

    Raw 8-bit bytes are decoded first: compat32 would otherwise turn them into U+FFFD.
    """
    view = Message(policy=policy.compat32)
    try:
        for key, value in part.raw_items():
            view[key] = _repair_8bit(str(value), hint)
    except Exception:
        pass
    return view


def _content_type(part: Message, view: Message) -> str:
    raw = view.get("content-type")
    if raw is None:
        try:
            return part.get_default_type()
        except Exception:
            return "text/plain"
    main = str(raw).split(";")[0].strip().lower()
    kind, slash, sub = main.partition("/")
    if not slash or not _TOKEN.match(kind) or not _TOKEN.match(sub):
        # "BINARY", "" and other non-types: the content is unknown, so treat it as opaque data.
        return "application/octet-stream"
    return main


def _param_filename(view: Message, state: _State) -> str | None:
    try:
        name = view.get_filename()
    except Exception:
        state.note("attachment file name unreadable")
        return None
    if name is None:
        return None
    name = _clean(str(name), state)
    if "=?" in name:
        # Outlook and others put encoded-words inside the quoted filename parameter.
        name = _decode_words(name)
    # A sender's directory ("C:\TEMP\x.png") is no part of the file's name and must not reach a path.
    name = re.split(r"[\\/]", name)[-1].strip()
    return name or None


def _disposition(view: Message) -> str | None:
    raw = view.get("content-disposition")
    if raw is None:
        return None
    return str(raw).split(";")[0].strip().lower() or None


def _leaves(msg: Message, state: _State) -> Iterator[_Leaf]:
    """Every non-container part in order; an attached message is one leaf, not opened."""
    stack: list[tuple[Message, int, str]] = [(msg, 0, "")]
    while stack:
        part, depth, parent = stack.pop()
        view = _compat_view(part, state.header_hint)
        ctype = _content_type(part, view)
        try:
            payload = part.get_payload()
        except Exception:
            payload = None
        if ctype.startswith("multipart/") and isinstance(payload, list):
            if depth >= _MAX_DEPTH:
                state.note("parts nested too deeply; the innermost were ignored")
                continue
            children = [(p, depth + 1, ctype) for p in payload if isinstance(p, Message)]
            stack.extend(reversed(children))
            continue
        if ctype.startswith("multipart/"):
            # A multipart without a usable boundary: its body is all there is to read.
            state.note(f"{ctype} without parts (missing or wrong boundary), read as text")
            ctype = "text/plain"
        yield _Leaf(part, ctype, _disposition(view), _param_filename(view, state), parent)


def _charset(part: Message) -> str | None:
    try:
        value = _compat_view(part).get_content_charset()
    except Exception:
        return None
    return str(value) if value else None


def _payload_bytes(part: Message, state: _State, where: str) -> bytes:
    """The part's content with its transfer encoding undone; raw bytes when that fails."""
    try:
        payload = part.get_payload()
        if isinstance(payload, list):
            return _container_bytes(part, payload, state, where)
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            return data
    except Exception:
        pass
    state.note(f"{where}: content could not be decoded, kept as received")
    try:
        raw = part.get_payload()
        return str(raw).encode("ascii", "surrogateescape") if not isinstance(raw, bytes) else raw
    except Exception:
        return b""


def _container_bytes(part: Message, payload: list[Any], state: _State, where: str) -> bytes:
    """Content of a message/* part the parser opened into sub-messages."""
    if part.get_content_type() in ("message/rfc822", "message/global"):
        return _message_bytes(payload[0] if payload else Message(), state, where)
    # message/delivery-status and the like hold several header blocks: keep them all, as sent.
    whole = _message_bytes(part, state, where)
    for separator in (b"\r\n\r\n", b"\n\n"):
        _, found, body = whole.partition(separator)
        if found:
            return body
    return whole


def _message_bytes(inner: Message, state: _State, where: str) -> bytes:
    try:
        # compat32 writes the headers back exactly as received instead of refolding them.
        return inner.as_bytes(policy=policy.compat32)
    except Exception:
        state.note(f"{where}: attached message could not be written back exactly")
        try:
            return inner.as_string(policy=policy.compat32).encode("utf-8", "surrogateescape")
        except Exception:
            return b""


def _is_body_candidate(leaf: _Leaf, subtype: str) -> bool:
    return leaf.content_type == f"text/{subtype}" and leaf.disposition != "attachment" and leaf.filename is None


def _is_attachment(leaf: _Leaf) -> bool:
    if leaf.disposition == "attachment" or leaf.filename is not None:
        return True
    if leaf.content_type in ("text/plain", "text/html"):
        return False
    if leaf.content_type.startswith("text/"):
        # text/enriched beside text/plain is another rendering of the body; text/calendar on its own is content.
        return leaf.parent != "multipart/alternative"
    return True


def _is_signature(leaf: _Leaf) -> bool:
    """The detached signature of a signed message: proof for machines, noise for staff."""
    return leaf.parent == "multipart/signed" and leaf.content_type in _SIGNATURE_TYPES


# ---------------------------------------------------------------- uuencode


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


def _split_uuencoded(text: str) -> tuple[str, list[tuple[str | None, bytes]]]:
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


def _guess_type(filename: str | None) -> str:
    """A uuencoded file declares no type; its name is the only clue."""
    guessed = _GUESS_TYPES.guess_type(filename, strict=False)[0] if filename else None
    return guessed or "application/octet-stream"


def _uu_end(ends: list[int], start: int) -> int | None:
    """The first "end" line after ``start`` (``ends``: their indexes, ascending; one search per begin)."""
    k = bisect.bisect_right(ends, start)
    return ends[k] if k < len(ends) else None


# ---------------------------------------------------------------- assembly


def _attachment(filename: str | None, content_type: str, data: bytes, limit: int) -> InboundAttachment:
    if len(data) > limit:
        return InboundAttachment(filename, content_type, len(data), None, f"larger than the limit of {limit} bytes")
    return InboundAttachment(filename, content_type, len(data), data)


@dataclass
class _Body:
    texts: list[str] = field(default_factory=list)
    html: str | None = None
    attachments: list[InboundAttachment] = field(default_factory=list)


def _collect(msg: Message, state: _State, limit: int) -> _Body:
    leaves = list(_leaves(msg, state))
    first_html = next((leaf for leaf in leaves if _is_body_candidate(leaf, "html")), None)
    body = _Body()
    if first_html is not None:
        body.html = _decode_text(
            _payload_bytes(first_html.part, state, "HTML body"), _charset(first_html.part), state, "HTML body"
        )
    for index, leaf in enumerate(leaves):
        where = f"part {index + 1} ({leaf.content_type})"
        if _is_body_candidate(leaf, "plain"):
            text = _decode_text(_payload_bytes(leaf.part, state, where), _charset(leaf.part), state, where)
            text, files = _split_uuencoded(_normalise_text(text))
            # Blank lines opening a part only widen the gap between joined parts.
            body.texts.append(re.sub(r"^(?:[ \t]*\n)+", "", text))
            body.attachments.extend(_attachment(n, _guess_type(n), d, limit) for n, d in files)
        elif leaf is not first_html and _is_attachment(leaf) and not _is_signature(leaf):
            body.attachments.append(_file(leaf, state, where, limit))
    if not any(t.strip() for t in body.texts) and body.html is not None:
        # No plain text worth reading (none, or an empty alternative some programs add): the HTML says it.
        body.texts = [html_to_text(body.html)]
    return body


def _file(leaf: _Leaf, state: _State, where: str, limit: int) -> InboundAttachment:
    data = _payload_bytes(leaf.part, state, where)
    if leaf.content_type in ("message/rfc822", "message/global"):
        return _attachment(leaf.filename or "message.eml", leaf.content_type, data, limit)
    return _attachment(leaf.filename, leaf.content_type, data, limit)


def _load(raw: bytes, state: _State) -> Message:
    try:
        return email.message_from_bytes(raw, policy=policy.default)
    except Exception as exc:  # deep nesting can exhaust the recursive parser
        state.note(f"message structure unreadable ({type(exc).__name__}); headers and raw body only")
    try:
        msg = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        if "content-type" in msg:
            del msg["content-type"]
        return msg
    except Exception:
        return Message(policy=policy.default)


def _parser_defects(msg: Message, state: _State) -> None:
    try:
        for part in msg.walk():
            for defect in getattr(part, "defects", ()):
                state.note(_describe(defect))
    except Exception:
        pass


def _header_hint(msg: Message) -> str | None:
    """The first real 8-bit charset declared anywhere, used to read raw 8-bit headers."""
    try:
        for index, part in enumerate(msg.walk()):
            if index > 50:
                break
            codec = _codec(_charset(part))
            if codec and codec not in ("ascii", "utf-8"):
                return codec
    except Exception:
        pass
    return None


def parse_email(raw: bytes, *, max_attachment_bytes: int = 25 * 1024 * 1024) -> ParsedEmail:
    """Everything the service reads from a raw message; never raises for any input bytes."""
    try:
        return _parse(raw, max_attachment_bytes)
    except Exception as exc:
        # Every step is guarded on its own; this is the net under a bug in those guards, so
        # that one strange message parks as an empty inquiry instead of stopping the intake.
        return ParsedEmail(
            None,
            (),
            (),
            None,
            None,
            (),
            "",
            None,
            "",
            None,
            (),
            None,
            (f"parser failed: {type(exc).__name__}: {exc}"[:300],),
        )


def _parse(raw: bytes, max_attachment_bytes: int) -> ParsedEmail:
    state = _State()
    msg = _load(bytes(raw), state)
    state.header_hint = _header_hint(msg)
    senders = [(n, a) for n, a in _addresses(msg, "From", state) if a] or _addresses(msg, "From", state)
    from_name, from_address = senders[0] if senders else ("", None)
    recipients = _addresses(msg, "To", state) + _addresses(msg, "Cc", state)
    body = _collect(msg, state, max_attachment_bytes)
    _parser_defects(msg, state)
    return ParsedEmail(
        message_id=(_ids(_raw_header(msg, "Message-ID")) or (None,))[0],
        in_reply_to=_ids(_raw_header(msg, "In-Reply-To")),
        references=_ids(_raw_header(msg, "References")),
        from_name=_collapse(from_name) or None,
        from_address=from_address,
        to=tuple(dict.fromkeys(a for _, a in recipients if a)),
        subject=_collapse(_unstructured(msg, "Subject", state) or ""),
        date=_date(msg, state),
        text=_normalise_text("\n\n".join(t for t in body.texts if t.strip())),
        html=body.html,
        attachments=tuple(body.attachments),
        auto_submitted=_auto_submitted(msg),
        defects=tuple(state.defects),
    )
