"""Fuzzing the e-mail channel: structurally plausible but broken MIME, and mutated real mail.

Properties, for any bytes:

- ``EmailChannel.natural_id`` returns a non-empty string and never raises;
- ``EmailChannel.normalise`` returns a message or raises ``UnprocessableReceipt`` and nothing else;
  a message without any sender address is refused by the pipeline's automatic step unless it is
  automatic mail (ingest/pipeline/automatic_rules.py); ``parse_email`` itself never raises;
- after the pipeline's ``storable`` every text field is a ``str`` without NUL that encodes to UTF-8
  (a lone surrogate would fail the database insert), references and recipients too;
- no input takes longer than the deadline (10 s, a bound for quadratic blow-ups, not a speed target),
  and none hangs (a timer interrupts the example);
- end to end on a real database (SQLite and PostgreSQL): generated messages stored with
  ``ReceiptStore`` and run through the ``Pipeline`` end processed (with a message, or an automatic
  outcome) or parked with a non-empty error; none lost, nothing raised out of the pipeline.
"""

from __future__ import annotations

import base64
import binascii
import quopri
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from sqlmodel import Session

from channels.base import InboundMessage, UnprocessableReceipt
from channels.email import EmailChannel
from channels.email_parse import parse_email
from ingest.assembly import build_pipeline, sync_employees
from ingest.intake.receipts import ReceiptStore
from ingest.pipeline.automatic_rules import decide_inbound
from ingest.pipeline.runner import Outcome, storable
from storage.db import make_engine, migrate, session_factory
from storage.models import Receipt
from tests.fuzz_support import fuzz_settings, hang_guard
from tests.support import DATA

CHANNEL = EmailChannel(max_attachment_bytes=64 * 1024, own_addresses=frozenset({"klienti@example.lv"}))
META = {"received_at": "2026-11-25T09:00:00+00:00", "envelope_to": ["klienti@example.lv"]}
# What the receipt table's natural_id column holds (String(998)).
NATURAL_ID_MAX = 998

CORPUS = sorted(
    p for p in (DATA / "corpora").rglob("*") if p.is_file() and p.suffix not in (".json", ".upstream", ".md", ".txt")
) + sorted((DATA / "own").glob("*.eml"))
CORPUS_BYTES = [p.read_bytes()[:200_000] for p in CORPUS]


# --- strategies -----------------------------------------------------------------------------------

HEADER_NAMES = [
    "From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "In-Reply-To", "References", "Date",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "Return-Path",
    "Auto-Submitted", "X-Autoreply", "Precedence", "List-Id", "X-Auto-Response-Suppress", "Sender",
]  # fmt: skip
CHARSETS = [
    "utf-8", "us-ascii", "iso-8859-1", "iso-8859-13", "windows-1257", "windows-1251", "koi8-r", "gb2312",
    "utf-7", "utf-16", "utf-32", "x-unknown", "", "undefined", "base64", "zlib", "rot13", "idna", "hex",
    "unicode-escape", "cp65001", "utf-8'lv'", "\"utf-8\"", "utf\xff8", "bogus charset", "ISO-2022-JP",
]  # fmt: skip
CONTENT_TYPES = [
    "text/plain", "text/html", "text/enriched", "text/calendar", "application/octet-stream", "image/png",
    "message/rfc822", "message/delivery-status", "message/global", "multipart/mixed", "BINARY", "", "text",
    "text/", "/plain", "application/pgp-signature", "x/y/z",
]  # fmt: skip
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "bogus", ""]

raw_text = st.binary(max_size=120)
ascii_text = st.text(st.characters(min_codepoint=1, max_codepoint=126), max_size=60)
any_text = st.text(max_size=60)


def _ew(charset: str, enc: str, payload: bytes, close: str) -> bytes:
    if enc.upper() == "B":
        body = base64.b64encode(payload)
    else:
        body = quopri.encodestring(payload, header=True).replace(b"=\n", b"")
    return b"=?" + charset.encode("latin-1") + b"?" + enc.encode() + b"?" + body + close.encode()


encoded_word = st.builds(
    _ew,
    st.sampled_from(CHARSETS),
    st.sampled_from(["B", "b", "Q", "q", "X", ""]),
    st.binary(max_size=40),
    st.sampled_from(["?=", "?= ", "", "?", "?=?="]),
)
broken_base64_word = st.builds(
    lambda cs, s, cut: b"=?" + cs.encode("latin-1") + b"?B?" + base64.b64encode(s)[:cut] + b"?=",
    st.sampled_from(CHARSETS),
    st.binary(max_size=30),
    st.integers(0, 40),
)
address = st.builds(
    lambda name, local, domain, style: style.format(n=name, l=local, d=domain).encode("utf-8", "surrogateescape"),
    any_text,
    st.text(st.characters(min_codepoint=33, max_codepoint=0x24F), min_size=1, max_size=20),
    st.sampled_from(["client.example", "b.lv", "x", "[127.0.0.1]", "ÿ.lv", "münchen.de", "", "a..b"]),
    st.sampled_from(
        ["{l}@{d}", "{n} <{l}@{d}>", '"{n}" <{l}@{d}>', "<{l}@{d}>", "{n}", "({n}) {l}@{d}", "{l}@{d}, {n}"]
    ),
)
header_value = st.one_of(
    raw_text,
    ascii_text.map(str.encode),
    any_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
    encoded_word,
    broken_base64_word,
    address,
    st.lists(st.one_of(encoded_word, address, raw_text), max_size=6).map(b" ".join),
    # Long repetitions of the constructs a header parser may be slow on.
    st.tuples(
        st.sampled_from(
            [b"=?utf-8?b?YQ==?=", b"(", b'"', b"\\", b"<", b"a@b.lv, ", b"=?utf-8?q?=C4=81?= ", b"x", b"\x00"]
        ),
        st.integers(1, 4000),
    ).map(lambda t: t[0] * t[1]),
)
header_name = st.one_of(
    st.sampled_from(HEADER_NAMES),
    st.binary(min_size=1, max_size=20).filter(lambda b: b":" not in b and b"\n" not in b and b"\r" not in b),
)


@st.composite
def header_line(draw: st.DrawFn) -> bytes:
    name = draw(header_name)
    name = name.encode() if isinstance(name, str) else name
    value = draw(header_value)
    if draw(st.booleans()) and len(value) > 10:
        # Fold somewhere, or break the line without a continuation (a header-like body line).
        at = draw(st.integers(1, len(value) - 1))
        value = value[:at] + draw(st.sampled_from([b"\r\n ", b"\n\t", b"\r\n", b"\n"])) + value[at:]
    return name + b":" + draw(st.sampled_from([b" ", b"", b"  "])) + value


def _encode_payload(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        return quopri.encodestring(data)
    if cte in ("x-uuencode", "uuencode"):
        lines = [binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45)]
        return b"begin 644 file.bin\n" + b"".join(lines) + b"`\nend\n"
    return data


@st.composite
def leaf_part(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    ctype = draw(st.sampled_from(CONTENT_TYPES))
    params = b""
    if draw(st.booleans()):
        params += b"; charset=" + draw(st.sampled_from(CHARSETS)).encode("latin-1")
    if draw(st.booleans()):
        params += b'; name="' + draw(st.one_of(raw_text, encoded_word, st.just(b"C:\\TEMP\\x.png"))) + b'"'
    cte = draw(st.sampled_from(ENCODINGS))
    headers = [b"Content-Type: " + ctype.encode() + params]
    if cte:
        headers.append(b"Content-Transfer-Encoding: " + cte.encode())
    if draw(st.booleans()):
        headers.append(
            b"Content-Disposition: "
            + draw(
                st.sampled_from(
                    [b"attachment", b"inline", b"", b"attachment; filename*=utf-8''%FF%FE", b"attachment; filename="]
                )
            )
        )
    data = draw(st.one_of(st.binary(max_size=300), any_text.map(lambda s: s.encode("utf-8", "surrogatepass"))))
    body = _encode_payload(data, cte)
    mangle = draw(st.sampled_from(["none", "truncate", "garbage", "nul", "huge-line"]))
    if mangle == "truncate" and body:
        body = body[: draw(st.integers(0, len(body)))]
    elif mangle == "garbage":
        body += draw(st.binary(min_size=1, max_size=40))
    elif mangle == "nul":
        body = body.replace(b"a", b"\x00") + b"\x00"
    elif mangle == "huge-line":
        body += b"Q" * draw(st.integers(10_000, 200_000))
    return headers, body


def _part_bytes(headers: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


@st.composite
def multipart(draw: st.DrawFn, children: st.SearchStrategy[tuple[list[bytes], bytes]]) -> tuple[list[bytes], bytes]:
    kids = draw(st.lists(children, min_size=0, max_size=4))
    declared = draw(st.sampled_from(["b1", "=_b=_", '"q b"', "", "x" * 80, "b1\x00"]))
    used = draw(st.sampled_from([declared.strip('"'), declared.strip('"'), "other", "b", ""]))
    subtype = draw(st.sampled_from(["mixed", "alternative", "related", "signed", "report", "digest", "x-bogus"]))
    header = b"Content-Type: multipart/" + subtype.encode()
    if declared or draw(st.booleans()):
        header += b"; boundary=" + declared.encode("latin-1")
    out = draw(st.sampled_from([b"", b"preamble\r\n"]))
    for headers, body in kids:
        out += b"--" + used.encode("latin-1") + b"\r\n" + _part_bytes(headers, body) + b"\r\n"
    if draw(st.booleans()):
        out += b"--" + used.encode("latin-1") + b"--\r\n"
    out += draw(st.sampled_from([b"", b"epilogue", b"--" + used.encode("latin-1")]))
    return [header], out


mime_body = st.recursive(leaf_part(), lambda inner: multipart(inner), max_leaves=6)


@st.composite
def generated_message(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(header_line(), max_size=8))
    if draw(st.booleans()):
        headers.insert(0, b"From: " + draw(address))
    if draw(st.booleans()):
        headers.append(b"Message-ID: <" + draw(raw_text) + b">")
    part_headers, body = draw(mime_body)
    lines = headers + (part_headers if draw(st.booleans()) else [])
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    newline = draw(st.sampled_from(["crlf", "lf", "cr", "mixed"]))
    if newline == "lf":
        raw = raw.replace(b"\r\n", b"\n")
    elif newline == "cr":
        raw = raw.replace(b"\r\n", b"\r")
    elif newline == "mixed":
        raw = raw.replace(b"\r\n\r\n", b"\n\r\n", 1)
    if draw(st.booleans()) and raw:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\x00" + raw[at:]
    return raw


@st.composite
def mutated_corpus(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS_BYTES)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "truncate", "splice", "insert", "delete", "duplicate", "nul"]))
        n = len(data)
        if op == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate" and n:
            del data[draw(st.integers(0, n)) :]
        elif op == "splice":
            other = draw(st.sampled_from(CORPUS_BYTES))
            a, b = draw(st.integers(0, n)), draw(st.integers(0, len(other)))
            data = data[:a] + bytearray(other[b:])
        elif op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=30))
        elif op == "delete" and n:
            i = draw(st.integers(0, n - 1))
            del data[i : i + draw(st.integers(1, 200))]
        elif op == "duplicate" and n:
            i = draw(st.integers(0, n - 1))
            chunk = data[i : i + draw(st.integers(1, 2000))]
            data[i:i] = chunk * draw(st.integers(1, 20))
        elif op == "nul" and n:
            data[draw(st.integers(0, n - 1))] = 0
    return bytes(data)


any_message = st.one_of(generated_message(), mutated_corpus())


# --- the property -----------------------------------------------------------------------------------


def _utf8_str(value: object, what: str, *, nul_ok: bool = False) -> None:
    assert isinstance(value, str), (what, type(value))
    value.encode("utf-8")  # a lone surrogate cannot be stored; this raises for one
    if not nul_ok:
        assert "\x00" not in value, (what, value[:80])


def check_message(raw: bytes) -> InboundMessage | None:
    """The channel's contract on one input; the stored form of the message, or None when refused."""
    with hang_guard(20):
        parsed = parse_email(raw, max_attachment_bytes=CHANNEL.max_attachment_bytes)
        nid = CHANNEL.natural_id(raw, META)
        try:
            inbound = CHANNEL.normalise(raw, META)
        except UnprocessableReceipt as exc:
            assert str(exc), "a refusal says why"
            assert parsed.from_address is None
            return None
    assert isinstance(nid, str) and nid.startswith(("mid:", "mid-sha256:", "sha256:"))
    _utf8_str(nid, "natural_id")
    assert len(nid) <= NATURAL_ID_MAX
    assert not any(d.startswith("parser failed") for d in parsed.defects), parsed.defects
    stored = storable(inbound)
    _utf8_str(stored.text, "text")
    _utf8_str(stored.sender_address, "sender_address")
    if not stored.sender_address and decide_inbound(inbound) is None:
        # No address anywhere and nothing automatic about it: the pipeline's automatic step refuses it.
        assert parsed.from_address is None
        return None
    for name in ("subject", "sender_name"):
        value = getattr(stored, name)
        if value is not None:
            _utf8_str(value, name)
    for ref in stored.refers_to:
        _utf8_str(ref, "refers_to", nul_ok=True)
    for rcpt in stored.recipients:
        _utf8_str(rcpt, "recipient", nul_ok=True)
    for att in stored.attachments:
        _utf8_str(att.content_type, "attachment content type", nul_ok=True)
        if att.filename is not None:
            _utf8_str(att.filename, "attachment filename", nul_ok=True)
        assert att.size >= 0
        assert (att.data is None) == (att.omitted_reason is not None)
        if att.data is not None:
            assert isinstance(att.data, bytes) and len(att.data) == att.size
    assert stored.received_at.tzinfo is not None
    return stored


# Inputs found by fuzzing (and the pathological ones behind the deadline), kept as examples so
# every run tries them first.
QUADRATIC_FROM = b"From: " + b"=?utf-8?b?YQ==?=" * 20000 + b" <a@b.lv>\r\n\r\nhi"
QUADRATIC_TO = b"From: a@b.lv\r\nTo: " + b'"' * 30000 + b"\r\n\r\nhi"
NESTED_COMMENTS = b"From: " + b"(" * 5000 + b"a@b.lv\r\nSender: x\r\n\r\nhi"
UU_BEGINS = b"From: a@b.lv\r\n\r\n" + b"begin 644 x\n" * 20000
EIGHT_BIT_IDS = b"From: a@b.lv\r\nMessage-ID: <caf\xc3\xa9@x>\r\nIn-Reply-To: <\xff\xfe@x>\r\n\r\nhi"


@pytest.mark.slow  # Hypothesis, many examples
@fuzz_settings(300)
@given(any_message)
@example(QUADRATIC_FROM)
@example(QUADRATIC_TO)
@example(NESTED_COMMENTS)
@example(UU_BEGINS)
@example(EIGHT_BIT_IDS)
@example(b"")
@example(b"\x00" * 1000)
@example(b"From: a@b.lv\r\nContent-Type: multipart/mixed\r\n\r\n--\r\n--")
def test_any_message_normalises_or_is_refused(raw: bytes) -> None:
    check_message(raw)


@fuzz_settings(150)
@given(mutated_corpus())
def test_mutated_corpus_messages(raw: bytes) -> None:
    check_message(raw)


# --- regressions from the fuzzing ----------------------------------------------------------------


@pytest.mark.slow  # large inputs, timed
@pytest.mark.parametrize("raw", [QUADRATIC_FROM, QUADRATIC_TO, UU_BEGINS], ids=["encoded-words", "quotes", "uu-begins"])
def test_pathological_inputs_stay_linear(raw: bytes) -> None:
    """Were quadratic (20-50 s for a few hundred kB); a 30 MB message could stall the pipeline for hours."""
    import time

    started = time.perf_counter()
    check_message(raw)
    # A bound for a blow-up (they took 20-50 s), not a speed target: the encoded-words input takes
    # about 0.5 s on a quiet machine (test_email_reading checks that it grows linearly).
    assert time.perf_counter() - started < 10


def test_deeply_nested_comments_keep_the_sender() -> None:
    """The lenient address reader recursed out of the stack, and the whole parse fell to its net."""
    parsed = parse_email(NESTED_COMMENTS)
    assert not any(d.startswith("parser failed") for d in parsed.defects), parsed.defects


def test_eight_bit_message_ids_match_the_natural_id() -> None:
    """References read with raw 8-bit bytes are the same ids natural_id gives, and storable text."""
    reply = b"From: b@c.lv\r\nIn-Reply-To: <caf\xc3\xa9@x>\r\n\r\nhi"
    original = b"From: a@b.lv\r\nMessage-ID: <caf\xc3\xa9@x>\r\n\r\nhi"
    inbound = CHANNEL.normalise(reply, META)
    assert inbound.refers_to == (CHANNEL.natural_id(original, META),)
    for ref in inbound.refers_to:
        ref.encode("utf-8")


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@b.lv\r\nMessage-ID: <a\x00b@x>\r\n\r\nhi",
        b"From: a@b.lv\r\nMessage-ID: <" + b"x" * 2000 + b"@b.lv>\r\n\r\nhi",
    ],
    ids=["nul", "over-998"],
)
def test_natural_id_fits_the_receipt_column(raw: bytes) -> None:
    """A Message-ID with NUL or over 998 characters would give a natural id PostgreSQL cannot store
    (the receiver could never commit it): it is replaced by its hash."""
    nid = CHANNEL.natural_id(raw, META)
    assert "\x00" not in nid and len(nid) <= NATURAL_ID_MAX


# --- end to end on a real database ----------------------------------------------------------------


T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.slow  # fuzzing through the pipeline and a database
def test_generated_messages_are_processed_or_parked(make_settings: Any) -> None:
    settings = make_settings()
    engine = make_engine(settings.database_url())
    migrate(engine)
    sessions = session_factory(engine)
    sync_employees(sessions, settings)
    pipeline = build_pipeline(settings, sessions, lambda: T0)
    store = ReceiptStore(sessions=sessions, clock=lambda: T0)
    channel = pipeline.channels["email"]
    seen: set[int] = set()

    @fuzz_settings(12, deadline=None)
    @given(st.lists(any_message, min_size=1, max_size=3))
    def run(messages: list[bytes]) -> None:
        ids = []
        for raw in messages:
            nid = channel.natural_id(raw, {})
            # Known and reported (see test_natural_id_fits_the_receipt_column): not storable at all.
            assume("\x00" not in nid and len(nid) <= NATURAL_ID_MAX)
            ids.append(
                store.store_sync(channel, source="fuzz", raw=raw, meta={"envelope_from": "fallback@client.example"}).id
            )
        for receipt_id in ids:
            with hang_guard(60):
                outcome = pipeline.process(receipt_id)  # must not raise
            assert outcome in set(Outcome)
            seen.add(receipt_id)
            with Session(engine) as session:
                row = session.get(Receipt, receipt_id)
                assert row is not None, "receipt lost"
                if row.status == "processed":
                    assert row.message_id is not None or "outcome" in row.meta, (outcome, row.meta)
                else:
                    assert row.status == "parked" and row.last_error, (row.status, row.last_error)

    try:
        run()
        assert len(seen) >= 10, "the examples stored hardly anything"
        with Session(engine) as session:
            assert all(session.get(Receipt, i) is not None for i in seen)
    finally:
        engine.dispose()
