"""Understanding an inquiry: its language, topic, kind and complexity.

Keywords come from the config and match as router/keywords.py says; topics are chosen by the
weight of their evidence (router/topics.py); the language is detected without dictionaries
(router/language.py). A Russian message typed in Latin letters is read with the Cyrillic
readings of its words too, so "musor ne vyvozjat" finds the waste topic's "мусор".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from router.keywords import Analysed, KeywordIndex, compile_keyword, tokens
from router.language import LANGUAGES, detect_language, letter_counts
from router.lexicon import fold
from router.topics import MATTER, SERVICE, Evidence, Topic, TopicChoice, TopicMatch, Weights, choose_topic

__all__ = [
    "LANGUAGES",
    "MATTER",
    "SERVICE",
    "ComplexitySignals",
    "Evidence",
    "KeywordIndex",
    "Topic",
    "TopicMatch",
    "Understander",
    "Understanding",
    "Weights",
    "compile_keyword",
    "detect_language",
    "fold",
    "tokens",
]

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@dataclass(frozen=True)
class Understanding:
    language: str
    topics: tuple[TopicMatch, ...]  # every topic with evidence, the chosen one first, by score
    kind: str
    kind_keyword: str | None
    complexity: str
    complexity_reasons: tuple[str, ...]
    near_ties: tuple[str, ...] = ()  # topics scored within Weights.near_tie of the chosen one
    concerns: str | None = None  # the service a matter topic (billing) concerns
    transliterated: bool = False  # Russian typed in Latin letters

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
    weights: Weights = field(default_factory=Weights)
    # Where the keyword lexicon is kept between starts (router/lexicon.py); None: built in memory.
    lexicon_dir: Path | None = None
    _index: KeywordIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        words = [k for t in self.topics for k in t.keywords] + [k for ks in self.kinds.values() for k in ks]
        self._index = KeywordIndex(words, self.lexicon_dir)

    @property
    def index(self) -> KeywordIndex:
        return self._index

    def language(self, text: str) -> tuple[str, bool]:
        """The language, and whether it is Russian typed in Latin letters."""
        language = detect_language(text, self.default_language, self._index.russian_form)
        letters, cyrillic = letter_counts(text[:2000])
        return language, language == "ru" and cyrillic * 2 < letters

    def understand(self, *, subject: str | None, text: str, attachments: int = 0) -> Understanding:
        body = f"{subject or ''}\n{text}"
        language, transliterated = self.language(body)
        analysed = self._index.analyse(text, subject=subject or "", transliterated=transliterated)
        choice = choose_topic(self._index, analysed, self.topics, self.weights)
        kind, kind_keyword = self._kind(analysed, body, transliterated)
        complexity, reasons = self._complexity(choice, text, attachments)
        return Understanding(
            language=language,
            topics=choice.ranked,
            kind=kind,
            kind_keyword=kind_keyword,
            complexity=complexity,
            complexity_reasons=tuple(reasons),
            near_ties=choice.near_ties,
            concerns=choice.concerns,
            transliterated=transliterated,
        )

    def _kind(self, analysed: Analysed, body: str, transliterated: bool) -> tuple[str, str | None]:
        for kind in ("complaint", "suggestion"):
            found = self._first_keyword(analysed, kind)
            if found:
                return kind, found
        # A request stated outright ("Vēlos pieteikt izvešanu. Kad jūs varētu atbraukt?") stays a
        # request; polite words inside a question ("Could you please tell me...?") do not make one.
        statements = " ".join(s for s in _SENTENCE.findall(body) if not s.rstrip().endswith("?"))
        found = self._first_keyword(self._index.analyse(statements, transliterated=transliterated), "request")
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

    def _complexity(self, choice: TopicChoice, text: str, attachments: int) -> tuple[str, list[str]]:
        reasons = []
        matches = choice.ranked
        if matches and matches[0].topic.complexity == "complex":
            reasons.append(f"topic {matches[0].topic.key} is complex")
        if len(text) > self.signals.long_text_chars:
            reasons.append(f"text longer than {self.signals.long_text_chars} characters")
        if attachments and self.signals.attachments_make_complex:
            reasons.append(f"{attachments} attachment(s)")
        # Only topics with evidence near the chosen one's make it several: a word in passing
        # ("ietve" in a letter about the roof's icicles) does not double the time to answer.
        if choice.near_ties and self.signals.several_topics_make_complex:
            reasons.append("several topics: " + ", ".join([matches[0].topic.key, *choice.near_ties]))
        return ("complex" if reasons else "simple"), reasons
