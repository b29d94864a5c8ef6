"""Separating what someone just wrote from the history they quoted and their signature.

Mail programs quote in many ways and many languages; these are the ones seen
here (Latvian, Russian, English clients and Outlook, Gmail, Thunderbird, Apple
Mail, mobile clients). What is cut is kept: the caller gets both parts.
"""

from __future__ import annotations

import re

_INTRO_PATTERNS = [
    r"^On .{4,200}wrote:\s*$",  # Gmail, Apple Mail, Thunderbird (en)
    r"^.{4,200} rakstīja:\s*$",  # lv
    r"^.{4,200} rakstija:\s*$",
    r"^.{4,200}(написал|написала|пишет)\(?а?\)?:\s*$",  # ru
    # Outlook and forwarding dividers: "-----Original Message-----" and its translations
    r"^-{2,}\s*(Original Message|Oriģinālā ziņa|Originālā ziņa|Исходное сообщение|Пересылаемое сообщение"
    r"|Forwarded message)\s*-{2,}\s*$",
    r"^_{10,}\s*$",  # Outlook's rule above the quoted headers
    r"^(From|No|От|Sūtītājs):\s.+$",  # Outlook's quoted header block starts with the sender
]
_INTRO = re.compile("|".join(f"(?:{p})" for p in _INTRO_PATTERNS), re.I | re.M)
_SIGNATURE = re.compile(r"^-- ?$", re.M)
_MOBILE = re.compile(r"^(Sent from my .+|Nosūtīts no mana .+|Отправлено с .+)$", re.I | re.M)


def split_reply(text: str) -> tuple[str, str]:
    """(what was written now, what was quoted or signed below it)."""
    cut = len(text)
    intro = _INTRO.search(text)
    if intro:
        cut = intro.start()
    quoted = re.search(r"^>", text, re.M)
    if quoted and quoted.start() < cut:
        # Only a quote that runs to the end (or to the intro) is history; a quote in the
        # middle of a reply ("> your question" then an answer) is part of what was written.
        rest = text[quoted.start() : cut]
        if all(not line.strip() or line.startswith(">") for line in rest.splitlines()):
            cut = quoted.start()
    for pattern in (_SIGNATURE, _MOBILE):
        found = pattern.search(text, 0, cut)
        if found:
            cut = found.start()
    new, old = text[:cut].rstrip(), text[cut:].strip()
    if not new:  # everything looked quoted: better to show all than nothing
        return text.strip(), ""
    return new, old
