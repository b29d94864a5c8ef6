"""Reading a mail's headers (addresses, message ids, date, free text): strictly first, leniently when that fails."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from channels.email_charset import ParseState, clean, has_surrogates, repair_8bit
from channels.email_words import decode_words, widen_word_charsets

# The standard header parser is quadratic on some inputs (thousands of encoded-words or quotes:
# tens of seconds for a few hundred kB); longer header values are read the lenient way.
_STRICT_HEADER_CHARS = 8192
# Labels of letters, digits and hyphens (any script: IDN domains are real), at least two of them,
# the last one not a number; or one ASCII label: guest@localhost is a sender we store, though no
# reply could reach it (a lone non-ASCII label is what raw bytes of a broken header decode to).
_DOMAIN = re.compile(
    r"^(?:(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_](?:[\w-]*[^\W_])?|[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?)$"
)
# A header field's first line as the standard parser recognises it: a name of printable ASCII, a colon.
_FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
# Fields relays write and wrap, where a continuation line without its leading blank is known.
_TRACE_FIELDS = frozenset(
    {
        b"received", b"x-received", b"authentication-results", b"arc-authentication-results", b"arc-seal",
        b"arc-message-signature", b"dkim-signature", b"x-google-dkim-signature", b"received-spf",
    }
)  # fmt: skip
_MAX_STRAY_LINES = 3
# One mailbox "Name <addr>" (a comment may follow); without a leading \s* so nothing backtracks.
_ANGLE_MAILBOX = re.compile(r"([^<>]*)<[^<>]*>\s*(?:\([^()]*\)\s*)?")
# One mailbox "addr (Name)": RFC 822's way of giving the name, still written by some programs.
_COMMENT_MAILBOX = re.compile(r"\s*[^\s<>()\",;:@]+@[^\s<>()\",;:]+\s*\(([^()]*)\)\s*")
# The last resort for an address header no parser can read: anything shaped like local@domain.
_ADDR_SPEC = re.compile(r"[^\s<>()\[\],;:\"@]+@[^\s<>()\[\],;:\"@]+")


def _is_field(line: bytes) -> bool:
    return _FIELD_LINE.match(line) is not None


def mend_header_block(raw: bytes) -> bytes:
    """The message with unindented continuation lines of trace headers indented, as Postfix reads them.

    Some relays wrap a long Received line without the leading blank that marks a continuation;
    the standard parser then takes that line for the start of the body and never reads From.
    Only a few such lines right after a trace header and right before another field are mended:
    anything else is more likely a body that came without its blank line.
    """
    end = min((i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0), default=len(raw))
    lines = raw[:end].split(b"\n")
    current: bytes | None = None  # name of the field the previous line belongs to
    mended = False
    for index, line in enumerate(lines):
        if _is_field(line):
            current = line.split(b":", 1)[0].strip().lower()
        elif line[:1] in (b" ", b"\t"):
            continue
        elif current in _TRACE_FIELDS and _field_follows(lines, index):
            lines[index] = b" " + line
            mended = True
        else:
            break  # where the standard parser ends the headers: what follows is the body
    return b"\n".join(lines) + raw[end:] if mended else raw


def _field_follows(lines: list[bytes], index: int) -> bool:
    """A field within the next few lines, and nothing but unindented text before it."""
    for line in lines[index + 1 : index + 1 + _MAX_STRAY_LINES]:
        if _is_field(line):
            return True
        if not line.strip(b"\r") or line[:1] in (b" ", b"\t"):
            return False
    return False


def _raw_headers(msg: Message, name: str) -> list[str]:
    """The header's values as received (surrogate-escaped where they had 8-bit bytes), unfolded."""
    lname = name.lower()
    try:
        values = [str(v) for k, v in msg.raw_items() if str(k).lower() == lname]
    except Exception:
        return []
    return [re.sub(r"\r?\n(?=[ \t])", "", v).strip("\r\n") for v in values]


def raw_header(msg: Message, name: str) -> str | None:
    values = _raw_headers(msg, name)
    return values[0] if values else None


def unstructured(msg: Message, name: str, state: ParseState) -> str | None:
    """A free-text header (Subject) fully decoded, or None when absent."""
    raw = raw_header(msg, name)
    if raw is None:
        return None
    value = widen_word_charsets(repair_8bit(raw, state.header_hint))
    if state.header_hint == "utf-7" and "+" in value and "=?" not in value and value.isascii():
        # A program that wrote its text in UTF-7 wrote its raw headers in it too.
        with contextlib.suppress(UnicodeDecodeError):
            value = value.encode("ascii").decode("utf-7")
    try:
        if len(value) > _STRICT_HEADER_CHARS:
            raise ValueError("too long for the standard parser")
        header = policy.default.header_factory(name, value)
        text = str(header)
        if has_surrogates(text):
            raise ValueError("undecodable bytes left")
        _note_header_defects(name, header, state)
    except Exception:
        state.note(f"{name}: header unreadable by the standard parser, decoded leniently")
        text = decode_words(value)
    return clean(text, state)


def describe_defect(defect: object) -> str:
    detail = collapse(str(defect))[:80]
    return f"{type(defect).__name__}: {detail}" if detail else type(defect).__name__


def _note_header_defects(name: str, header: object, state: ParseState) -> None:
    for defect in getattr(header, "defects", ()):
        state.note(f"{name}: {describe_defect(defect)}")


def collapse(text: str) -> str:
    return " ".join(text.split())


def _normalise_address(addr: str) -> str | None:
    """Local part kept as written (it may be case-sensitive); the domain is not, so lowercase it.

    Only an address that names a mailbox counts: a domain of labels (or an address
    literal) and no control characters or undecodable bytes.
    """
    addr = addr.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not local or not domain or not addr.isprintable() or has_surrogates(addr):
        return None
    if not _DOMAIN.match(domain) and not (domain.startswith("[") and domain.endswith("]")):
        return None
    return f"{local}@{domain}"


def _one_mailbox_name(value: str, parsed: str) -> str:
    """The display name of a one-mailbox header where the standard parser misreads it.

    It keeps the white space between adjacent encoded-words (RFC 2047 drops it) and
    ignores the name in "addr (Name)".
    """
    angle = _ANGLE_MAILBOX.fullmatch(value)
    if angle is not None and "=?" in angle.group(1):
        phrase = angle.group(1).strip()
        if len(phrase) >= 2 and phrase[0] == phrase[-1] == '"':
            # Encoded-words inside quotes are against RFC 2047, and what many programs write.
            phrase = re.sub(r"\\(.)", r"\1", phrase[1:-1])
        return decode_words(phrase)
    comment = _COMMENT_MAILBOX.fullmatch(value) if not parsed.strip() else None
    return decode_words(comment.group(1)).strip() if comment is not None else parsed


def addresses(msg: Message, name: str, state: ParseState) -> list[tuple[str, str | None]]:
    """(display name, normalised addr-spec) for each mailbox in every header of that name."""
    found: list[tuple[str, str | None]] = []
    for raw in _raw_headers(msg, name):
        value = widen_word_charsets(repair_8bit(raw, state.header_hint))
        try:
            if len(value) > _STRICT_HEADER_CHARS:
                raise ValueError("too long for the standard parser")
            header = policy.default.header_factory(name, value)
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
            _note_header_defects(name, header, state)
            if len(pairs) == 1:
                pairs = [(_one_mailbox_name(value, pairs[0][0]), pairs[0][1])]
        except Exception:
            state.note(f"{name}: address header unreadable by the standard parser, read leniently")
            try:
                pairs = [(decode_words(n), a) for n, a in getaddresses([value])]
            except Exception:  # deeply nested comments exhaust the recursive lenient reader too
                pairs = [("", a) for a in _ADDR_SPEC.findall(value)]
        found.extend((clean(n or "", state), _normalise_address(a) if a else None) for n, a in pairs)
    return found


def message_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    bracketed = re.findall(r"<([^<>]*)>", value)
    ids = bracketed if bracketed else value.replace(",", " ").split()
    # Raw 8-bit bytes become U+FFFD, one per byte, as natural_id's compat32 reading has them:
    # the same id either way, and text the database can store.
    cleaned = (re.sub("[\udc80-\udcff]", "\ufffd", "".join(i.split())) for i in ids)
    return tuple(i for i in cleaned if i)


def header_date(msg: Message, state: ParseState) -> datetime | None:
    raw = raw_header(msg, "Date")
    if not raw or not raw.strip():
        return None
    try:
        value = parsedate_to_datetime(raw.strip())
    except Exception:
        state.note(f"Date: unparseable {raw.strip()[:60]!r}")
        return None
    # "-0000" means "zone unknown"; UTC is the only honest reading of that.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def auto_submitted(msg: Message) -> str | None:
    raw = raw_header(msg, "Auto-Submitted")
    if raw is None:
        return None
    value = collapse(raw).lower()
    if not value or value.split(";")[0].strip() == "no":
        return None
    return value
