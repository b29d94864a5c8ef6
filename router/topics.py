"""Which topic an inquiry is about, by keywords from the config.

A keyword matches the beginning of a word, ignoring case and diacritics (many
clients type Latvian without them), so a stem such as ``atkritum`` matches
``atkritumi`` and ``atkritumu``. A keyword of several words matches those
words in a row.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case ``text`` and strip its diacritics (ā→a, š→s, ё→е, й→и)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@dataclass(frozen=True)
class Topic:
    key: str
    name: str
    keywords: tuple[str, ...]
    employees: tuple[str, ...]
    complexity: str


@dataclass(frozen=True)
class TopicMatch:
    topic: Topic
    keyword: str  # the configured keyword that matched
    word: str  # the client's word it matched (folded)


def _match_at(tokens: Sequence[str], start: int, parts: Sequence[str]) -> bool:
    if start + len(parts) > len(tokens):
        return False
    return all(tokens[start + i].startswith(p) for i, p in enumerate(parts))


def find_keyword(tokens: Sequence[str], keyword: str) -> str | None:
    parts = words(keyword)
    if not parts:
        return None
    for i in range(len(tokens)):
        if _match_at(tokens, i, parts):
            return " ".join(tokens[i : i + len(parts)])
    return None


def match_topic(topics: Sequence[Topic], subject: str | None, text: str) -> TopicMatch | None:
    """The first topic (in configured order) with a keyword in the subject or text."""
    tokens = words(f"{subject or ''}\n{text}")
    for topic in topics:
        for keyword in topic.keywords:
            found = find_keyword(tokens, keyword)
            if found is not None:
                return TopicMatch(topic=topic, keyword=keyword, word=found)
    return None
