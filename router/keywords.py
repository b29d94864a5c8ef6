"""Matching configured keywords against a client's words.

A keyword matches a client's word when

- the word begins with the keyword (stems such as ``atkritum``; keywords of four letters or
  more; shorter ones, and any written ``=word``, match only that exact word, diacritics
  included), or
- both are forms of the same lemma in Latvian, Russian or English (so ``ūdenim``, ``ūdeni`` and
  ``ūdens`` all match ``ūdens``), also typed without diacritics (``udeni``): the lexicon
  (router/lexicon.py) holds every form of the keywords' lemmas, or
- in a Russian message typed in Latin letters, one of the word's Cyrillic readings does
  (``musora`` → ``мусора``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from router.lexicon import Lexicon, fold, load_lexicon
from router.translit import cyrillic_readings

_WORD = re.compile(r"\w+", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# A keyword shorter than this matches whole words only ("kā" must not match "kāpnes").
MIN_PREFIX = 4
# Words analysed before are looked up, not analysed again, up to this many.
TOKEN_CACHE = 50_000


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


# A part of a keyword: (folded prefix, folded lemmas, the exact word when only that word matches).
Part = tuple[str, frozenset[str], str | None]


@dataclass(frozen=True)
class Keyword:
    text: str  # as configured
    parts: tuple[Part, ...]


def keyword_words(keywords: Iterable[str]) -> list[str]:
    """The words whose lemmas the lexicon must know: those matched by prefix and lemma."""
    words: list[str] = []
    for text in keywords:
        if not text.startswith("="):
            words.extend(w for w in tokens(text) if len(fold(w)) >= MIN_PREFIX)
    return words


def compile_keyword(text: str, lexicon: Lexicon | None = None) -> Keyword:
    """``=word`` matches that word only; words shorter than MIN_PREFIX letters too, diacritics
    included ("kā" is not "ka"); anything else by prefix and lemma."""
    exact_all = text.startswith("=")
    parts: list[Part] = []
    for word in tokens(text.removeprefix("=")):
        if exact_all or len(fold(word)) < MIN_PREFIX:
            parts.append((fold(word), frozenset(), word))
        else:
            known = lexicon.keyword_lemmas.get(word) if lexicon is not None else None
            parts.append((fold(word), known or frozenset({fold(word)}), None))
    return Keyword(text=text, parts=tuple(parts))


@dataclass(frozen=True)
class Token:
    word: str  # case-folded, diacritics kept
    folded: str
    lemmas: frozenset[str]
    readings: tuple[str, ...] = ()  # Cyrillic readings of a Latin-letter Russian word, case-folded
    # The index's keywords whose first word this token matches: found once per distinct word.
    first_of: frozenset[str] = frozenset()

    @cached_property  # asked for every keyword word tried against the token
    def spellings(self) -> tuple[str, ...]:
        """The folded spellings a prefix may match: the word's, and its readings'."""
        return (self.folded, *(fold(r) for r in self.readings))


class Analysed:
    """A text's tokens, indexed so that each keyword is looked up, not scanned for."""

    def __init__(self, text_tokens: list[Token], subject_tokens: int = 0) -> None:
        self.tokens = text_tokens
        self.subject_tokens = subject_tokens  # the first ones come from the subject
        # Keyword -> positions of the tokens its first word matches (the index's own keywords).
        self.first: dict[str, list[int]] = {}
        for i, token in enumerate(text_tokens):
            for keyword in token.first_of:
                self.first.setdefault(keyword, []).append(i)

    def starts(self, part: Part) -> list[int]:
        """Positions of the tokens that match one keyword word, in text order (any keyword word:
        slower than :attr:`first`, which holds those of the index's keywords)."""
        return [i for i, token in enumerate(self.tokens) if _word_matches(token, part)]


def _exact(token: Token, exact: str) -> bool:
    return token.word == exact or exact in token.readings


def _word_matches(token: Token, part: Part) -> bool:
    prefix, lemmas, exact = part
    if exact is not None:
        return _exact(token, exact)
    return any(s.startswith(prefix) for s in token.spellings) or not token.lemmas.isdisjoint(lemmas)


class KeywordIndex:
    """Matches configured keywords against a text, with lemmas, without diacritics, across scripts."""

    def __init__(self, keywords: Iterable[str], lexicon_dir: Path | None = None) -> None:
        keywords = list(keywords)
        self.lexicon = load_lexicon(keyword_words(keywords), lexicon_dir)
        self._compiled = {k: compile_keyword(k, self.lexicon) for k in keywords}
        self._tokens: dict[tuple[str, bool], Token] = {}
        self._first_words = _FirstWords(self._compiled)
        self._russian_prefixes = frozenset(
            prefix
            for kw in self._compiled.values()
            for prefix, _, exact in kw.parts
            if exact is None and _CYRILLIC.search(prefix)
        )

    def russian_form(self, word: str) -> bool:
        """Whether a Cyrillic word is a form of a keyword's lemma or begins with a keyword."""
        if word in self.lexicon.forms["ru"]:
            return True
        folded = fold(word)
        return any(folded[:k] in self._russian_prefixes for k in range(MIN_PREFIX, len(folded) + 1))

    def token(self, word: str, transliterated: bool = False) -> Token:
        key = (word, transliterated)
        found = self._tokens.get(key)
        if found is None:
            if len(self._tokens) >= TOKEN_CACHE:
                self._tokens.clear()  # bounded: a flood of distinct words must not grow the process
            found = self._tokens[key] = self._token(word, transliterated)
        return found

    def _token(self, word: str, transliterated: bool) -> Token:
        folded = fold(word)
        lemmas = {folded, *self.lexicon.lemmas(word)}
        readings = cyrillic_readings(word) if transliterated else ()
        for reading in readings:
            lemmas.add(fold(reading))
            lemmas.update(self.lexicon.lemmas(reading))
        probe = Token(word, folded, frozenset(lemmas), readings)  # its spellings tell the keywords it starts
        return Token(word, folded, probe.lemmas, readings, self._first_words.matched_by(probe))

    def analyse(self, text: str, *, subject: str = "", transliterated: bool = False) -> Analysed:
        """The subject's and the text's tokens; ``transliterated``: the text is Russian in Latin letters."""
        subject_words = tokens(subject)
        words = subject_words + tokens(text)
        return Analysed([self.token(w, transliterated) for w in words], subject_tokens=len(subject_words))

    def find_all(self, analysed: Analysed, keyword: str) -> list[tuple[int, int]]:
        """Where ``keyword`` matches: (first token, number of tokens), in text order."""
        kw = self._compiled.get(keyword)
        if kw is None:
            kw = compile_keyword(keyword, self.lexicon)
            starts = analysed.starts(kw.parts[0]) if kw.parts else []
        else:
            starts = analysed.first.get(keyword, [])
        n = len(kw.parts)
        text_tokens = analysed.tokens
        return [
            (i, n)
            for i in starts
            if i + n <= len(text_tokens) and all(_word_matches(text_tokens[i + j], kw.parts[j]) for j in range(1, n))
        ]

    def find(self, analysed: Analysed, keyword: str) -> str | None:
        """The client's words that matched ``keyword`` first, or None."""
        for i, n in self.find_all(analysed, keyword):
            return " ".join(t.folded for t in analysed.tokens[i : i + n])
        return None


class _FirstWords:
    """The keywords by their first word: exact words, lemmas and prefixes looked up in dicts, so a
    token finds the keywords it can start without trying each (``_word_matches`` for every one)."""

    def __init__(self, compiled: dict[str, Keyword]) -> None:
        self.exact: dict[str, list[str]] = {}
        self.lemma: dict[str, list[str]] = {}
        self.prefix: dict[str, list[str]] = {}
        for keyword, kw in compiled.items():
            if not kw.parts:
                continue
            prefix, lemmas, exact = kw.parts[0]
            if exact is not None:
                self.exact.setdefault(exact, []).append(keyword)
                continue
            self.prefix.setdefault(prefix, []).append(keyword)
            for lemma in lemmas:
                self.lemma.setdefault(lemma, []).append(keyword)
        self.prefix_lengths = sorted({len(p) for p in self.prefix})

    def matched_by(self, token: Token) -> frozenset[str]:
        found: set[str] = set()
        for form in (token.word, *token.readings):
            found.update(self.exact.get(form, ()))
        for lemma in token.lemmas:
            found.update(self.lemma.get(lemma, ()))
        for spelling in token.spellings:
            for length in self.prefix_lengths:
                if length > len(spelling):
                    break
                found.update(self.prefix.get(spelling[:length], ()))
        return frozenset(found)
