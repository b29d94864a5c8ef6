"""RFC 2047 encoded-words (``=?utf-8?q?J=C4=81nis?=``) decoded leniently and in linear time.

The standard library's lenient decoder (``email.header.decode_header``) takes time quadratic in
the number of words (a From of 40,000 words took six seconds), keeps the white space between
adjacent words that RFC 2047 says to drop, and gives up on a charset Python does not know. This
one scans once, joins adjacent words of one charset before decoding them (programs split a
character between two words), and resolves charsets as bodies do.
"""

from __future__ import annotations

import binascii
import re

from channels.email_charset import codec_for, decode_guess

# charset, optional RFC 2231 language, encoding, text; "?" ends the text, so no backtracking.
_WORD = re.compile(r"=\?([^?*\s]+)(?:\*[^?]*)?\?([QqBb])\?([^?]*)\?=")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The word's bytes, or None when its text is not what its encoding says."""
    data = text.encode("utf-8", "surrogateescape")
    try:
        if encoding in "Bb":
            # Padding is often missing or wrong; a2b_base64 skips what is not base64.
            return binascii.a2b_base64(data.rstrip(b"=") + b"=" * (-len(data.rstrip(b"=")) % 4))
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return None


def _decoded(charset: str, chunks: list[bytes]) -> str:
    data = b"".join(chunks)
    codec = codec_for(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except Exception:  # wrong bytes for the label, or a codec such as "undefined"
            pass
    return decode_guess(data)


def decode_words(value: str) -> str:
    """The header text with every encoded-word decoded; white space between two words dropped."""
    if "=?" not in value:
        return value
    out: list[str] = []
    run: list[tuple[str, list[bytes]]] = []  # adjacent words, grouped by charset

    def flush() -> None:
        out.extend(_decoded(charset, chunks) for charset, chunks in run)
        run.clear()

    pos = 0
    for match in _WORD.finditer(value):
        gap = value[pos : match.start()]
        data = _word_bytes(match.group(2), match.group(3))
        pos = match.end()
        if not (run and not gap.strip()):
            flush()
            out.append(gap)
        if data is None:
            flush()
            out.append(match.group(0))
            continue
        charset = match.group(1).lower()
        if run and run[-1][0] == charset:
            run[-1][1].append(data)
        else:
            run.append((charset, [data]))
    flush()
    out.append(value[pos:])
    return "".join(out)


def widen_word_charsets(value: str) -> str:
    """Encoded-words get the charsets bodies get (supersets, WHATWG labels) before the standard parser reads them."""
    if "=?" not in value:
        return value
    return re.sub(
        r"=\?([^?*\s]+)(\*[^?]*)?\?",
        lambda m: f"=?{codec_for(m.group(1)) or m.group(1)}{m.group(2) or ''}?",
        value,
    )
