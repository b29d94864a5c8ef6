"""Understanding an inquiry: its language, topic, kind and complexity.

Keywords come from the config. A keyword matches a client's word when

- the word begins with the keyword (stems such as ``atkritum``; keywords of
  four letters or more; shorter ones, and any written ``=word``, match only
  that exact word, diacritics included), or
- both are forms of the same lemma in Latvian, Russian or English (simplemma's
  dictionaries, so ``ūdenim``, ``ūdeni`` and ``ūdens`` all match ``ūdens``), or
- the word, typed without diacritics, is such a form (``udeni``): Latvian
  forms of the keywords' lemmas are indexed with their diacritics folded.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import simplemma

LANGUAGES = ("lv", "ru", "en")
_WORD = re.compile(r"\w+", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def fold(text: str) -> str:
    """Lower-case ``text`` and strip its diacritics (ā→a, š→s, ё→е, й→и)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def detect_language(text: str, default: str = "lv") -> str:
    """lv, ru or en; ``default`` when the text says too little."""
    sample = text[:2000]
    if not sample.strip():
        return default
    letters = [c for c in sample if c.isalpha()]
    if letters and sum(1 for c in letters if _CYRILLIC.match(c)) / len(letters) > 0.3:
        return "ru"
    scores = [(lang, score) for lang, score in simplemma.langdetect(sample, lang=LANGUAGES) if lang != "unk"]
    best = max(scores, key=lambda item: item[1], default=(default, 0.0))
    return best[0] if best[1] > 0.1 else default


@lru_cache(maxsize=200_000)
def lemmas_of(word: str) -> frozenset[str]:
    """Folded lemmas of a word in each language (the word itself when unknown)."""
    found = {fold(word)}
    for lang in LANGUAGES:
        lemma = simplemma.lemmatize(word, lang=lang)
        if lemma:
            found.add(fold(lemma))
    return frozenset(found)


@lru_cache(maxsize=16)
def _folded_latvian_forms(lemmas: frozenset[str]) -> Mapping[str, frozenset[str]]:
    """Folded Latvian word form -> folded lemmas, for the given (folded) lemmas only.

    Built once per keyword set from simplemma's Latvian dictionary (about
    180,000 forms, 0.2 s), so that text typed without diacritics still finds
    its lemma.
    """
    from simplemma.strategies.dictionaries.dictionary_factory import DefaultDictionaryFactory

    dictionary = DefaultDictionaryFactory().get_dictionary("lv")
    raw = getattr(dictionary, "_dict", None)
    # The raw dict maps bytes to bytes: iterating it directly skips decoding what cannot match.
    items: Iterable[tuple[str, str]] = (
        ((k.decode(), v.decode()) for k, v in raw.items()) if isinstance(raw, dict) else dictionary.items()
    )
    index: dict[str, set[str]] = {}
    for form, lemma in items:
        folded = fold(lemma)
        if folded in lemmas:
            index.setdefault(fold(form), set()).add(folded)
    return {form: frozenset(found) for form, found in index.items()}


# A part of a keyword: (folded prefix, folded lemmas, the exact word when only that word matches).
Part = tuple[str, frozenset[str], str | None]


@dataclass(frozen=True)
class Keyword:
    text: str  # as configured
    parts: tuple[Part, ...]


def compile_keyword(text: str) -> Keyword:
    """``=word`` matches that word only; words shorter than MIN_PREFIX letters too, diacritics
    included ("kā" is not "ka"); anything else by prefix and lemma."""
    exact_all = text.startswith("=")
    parts: list[Part] = []
    for word in tokens(text.removeprefix("=")):
        if exact_all or len(fold(word)) < MIN_PREFIX:
            parts.append((fold(word), frozenset(), word))
        else:
            parts.append((fold(word), lemmas_of(word), None))
    return Keyword(text=text, parts=tuple(parts))


@dataclass(frozen=True)
class Token:
    word: str  # case-folded, diacritics kept
    folded: str
    lemmas: frozenset[str]


class KeywordIndex:
    """Matches configured keywords against a text, with lemmas and without diacritics."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self._compiled = {k: compile_keyword(k) for k in keywords}
        lemma_set = frozenset(lemma for kw in self._compiled.values() for _, lemmas, _ in kw.parts for lemma in lemmas)
        self._forms = _folded_latvian_forms(lemma_set)

    def analyse(self, text: str) -> Analysed:
        out = []
        for word in tokens(text):
            folded = fold(word)
            out.append(Token(word, folded, lemmas_of(word) | self._forms.get(folded, frozenset())))
        return Analysed(out)

    def find(self, analysed: Analysed, keyword: str) -> str | None:
        """The client's words that matched ``keyword``, or None."""
        kw = self._compiled.get(keyword) or compile_keyword(keyword)
        if not kw.parts:
            return None
        n = len(kw.parts)
        text_tokens = analysed.tokens
        for i in analysed.starts(kw.parts[0]):
            if i + n <= len(text_tokens) and all(_word_matches(text_tokens[i + j], kw.parts[j]) for j in range(1, n)):
                return " ".join(t.folded for t in text_tokens[i : i + n])
        return None


class Analysed:
    """A text's tokens, indexed so that each keyword is looked up, not scanned for."""

    def __init__(self, text_tokens: list[Token]) -> None:
        self.tokens = text_tokens
        self._by_lemma: dict[str, list[int]] = {}
        for i, token in enumerate(text_tokens):
            for lemma in token.lemmas:
                self._by_lemma.setdefault(lemma, []).append(i)
        self._sorted = sorted((t.folded, i) for i, t in enumerate(text_tokens))
        self._keys = [folded for folded, _ in self._sorted]

    def starts(self, part: Part) -> list[int]:
        """Positions of the tokens that match one keyword word, in text order."""
        prefix, lemmas, exact = part
        if exact is not None:
            return [i for i, t in enumerate(self.tokens) if t.word == exact]
        found: set[int] = set()
        for lemma in lemmas:
            found.update(self._by_lemma.get(lemma, ()))
        lo = bisect.bisect_left(self._keys, prefix)
        for key, i in self._sorted[lo:]:
            if not key.startswith(prefix):
                break
            found.add(i)
        return sorted(found)


# A keyword shorter than this matches whole words only ("kā" must not match "kāpnes").
MIN_PREFIX = 4


def _word_matches(token: Token, part: Part) -> bool:
    prefix, lemmas, exact = part
    if exact is not None:
        return token.word == exact
    return token.folded.startswith(prefix) or not token.lemmas.isdisjoint(lemmas)


# --- topic, kind, complexity ----------------------------------------------------------------


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
    keyword: str
    word: str


@dataclass(frozen=True)
class Understanding:
    language: str
    topics: tuple[TopicMatch, ...]  # every topic that matched, in configured order
    kind: str
    kind_keyword: str | None
    complexity: str
    complexity_reasons: tuple[str, ...]

    @property
    def topic(self) -> TopicMatch | None:
        return self.topics[0] if self.topics else None


@dataclass(frozen=True)
class ComplexitySignals:
    long_text_chars: int = 1500
    attachments_make_complex: bool = True
    several_topics_make_complex: bool = True


@dataclass
class Understander:
    topics: Sequence[Topic]
    kinds: Mapping[str, Sequence[str]]  # kind -> keywords; kinds not listed are never detected
    signals: ComplexitySignals = field(default_factory=ComplexitySignals)
    default_language: str = "lv"
    _index: KeywordIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        words = [k for t in self.topics for k in t.keywords] + [k for ks in self.kinds.values() for k in ks]
        self._index = KeywordIndex(words)

    def understand(self, *, subject: str | None, text: str, attachments: int = 0) -> Understanding:
        body = f"{subject or ''}\n{text}"
        analysed = self._index.analyse(body)
        matches = []
        for topic in self.topics:
            for keyword in topic.keywords:
                found = self._index.find(analysed, keyword)
                if found is not None:
                    matches.append(TopicMatch(topic=topic, keyword=keyword, word=found))
                    break
        kind, kind_keyword = self._kind(analysed, body)
        complexity, reasons = self._complexity(matches, text, attachments)
        return Understanding(
            language=detect_language(body, self.default_language),
            topics=tuple(matches),
            kind=kind,
            kind_keyword=kind_keyword,
            complexity=complexity,
            complexity_reasons=tuple(reasons),
        )

    def _kind(self, analysed: Analysed, body: str) -> tuple[str, str | None]:
        for kind in ("complaint", "suggestion"):
            found = self._first_keyword(analysed, kind)
            if found:
                return kind, found
        # A request stated outright ("Vēlos pieteikt izvešanu. Kad jūs varētu atbraukt?") stays a
        # request; polite words inside a question ("Could you please tell me...?") do not make one.
        statements = " ".join(s for s in _SENTENCE.findall(body) if not s.rstrip().endswith("?"))
        found = self._first_keyword(self._index.analyse(statements), "request")
        if found:
            return "request", found
        # In a question, an interrogative word asks for information ("Could you tell me when...?");
        # without one, a polite word asks for action ("Could you please send the truck?").
        question = self._first_keyword(analysed, "question")
        if question:
            return "question", question
        found = self._first_keyword(analysed, "request")
        if found:
            return "request", found
        return ("question", "?") if "?" in body else ("request", None)

    def _first_keyword(self, analysed: Analysed, kind: str) -> str | None:
        for keyword in self.kinds.get(kind, ()):
            if self._index.find(analysed, keyword) is not None:
                return keyword
        return None

    def _complexity(self, matches: Sequence[TopicMatch], text: str, attachments: int) -> tuple[str, list[str]]:
        reasons = []
        if matches and matches[0].topic.complexity == "complex":
            reasons.append(f"topic {matches[0].topic.key} is complex")
        if len(text) > self.signals.long_text_chars:
            reasons.append(f"text longer than {self.signals.long_text_chars} characters")
        if attachments and self.signals.attachments_make_complex:
            reasons.append(f"{attachments} attachment(s)")
        if len(matches) > 1 and self.signals.several_topics_make_complex:
            reasons.append("several topics: " + ", ".join(m.topic.key for m in matches))
        return ("complex" if reasons else "simple"), reasons
