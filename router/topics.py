"""Topic by evidence: every topic is scored on what the message says, and the best wins.

A topic's score adds up its keyword matches. Each counts

- once per place in the text, shared when the same word is evidence for several topics
  (its specificity: "remonts" said of a radiator is half heating's and half the buildings');
- more in the subject (``Weights.subject``) and a little more the earlier it comes
  (``Weights.early``: the first word up to that much more than the last);
- more for a phrase of several words (``Weights.phrase`` for each word past the first);
- half again for each repetition of the same keyword (the third "lifts" adds less than the first).

Topics have a role. A *service* topic is the service a message concerns (waste, heating, roads,
buildings); a *matter* topic is what it is about whatever the service (an invoice, a payment).
A matter with evidence worth at least ``Weights.matter_share`` of the best service's wins, and
the service is recorded beside it ("rēķins par atkritumu izvešanu" goes to billing, concerning
waste). Ties go to the topic configured first, as the router did before it weighed evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from router.keywords import Analysed, KeywordIndex

SERVICE, MATTER = "service", "matter"


@dataclass(frozen=True)
class Topic:
    key: str
    name: str
    keywords: tuple[str, ...]
    employees: tuple[str, ...]
    complexity: str
    role: str = SERVICE


@dataclass(frozen=True)
class Weights:
    subject: float = 2.0
    early: float = 0.2
    phrase: float = 0.5
    repeat: float = 0.5
    matter_share: float = 0.5
    # Another topic within this share of the winner's score is a near tie: recorded, explained,
    # and (with several_topics_make_complex) it makes the inquiry complex.
    near_tie: float = 0.75


@dataclass(frozen=True)
class Evidence:
    keyword: str
    word: str  # the client's words, folded
    position: int
    weight: float


@dataclass(frozen=True)
class TopicMatch:
    topic: Topic
    keyword: str  # the first configured keyword found
    word: str
    score: float = 0.0
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class TopicChoice:
    ranked: tuple[TopicMatch, ...]  # the winner first
    near_ties: tuple[str, ...]  # other topics within Weights.near_tie of the winner
    concerns: str | None  # the service a matter winner concerns


def choose_topic(index: KeywordIndex, analysed: Analysed, topics: Sequence[Topic], weights: Weights) -> TopicChoice:
    matches = _matches(index, analysed, topics)
    share = _specificity(matches)
    scored: list[tuple[float, int, TopicMatch]] = []
    for order, topic in enumerate(topics):
        found = matches.get(topic.key)
        if not found:
            continue
        evidence = _weigh(found, share, analysed, weights)
        score = round(sum(e.weight for e in evidence), 3)
        # Named by its first configured keyword found, as before topics were weighed: explanations
        # and dashboards keep showing the keyword the office put first.
        first = min(evidence, key=lambda e: (topic.keywords.index(e.keyword), e.position))
        scored.append((score, order, TopicMatch(topic, first.keyword, first.word, score, tuple(evidence))))
    scored.sort(key=lambda item: (-item[0], item[1]))
    ranked = [match for _, _, match in scored]
    concerns = None
    best_service = next((m for m in ranked if m.topic.role != MATTER), None)
    best_matter = next((m for m in ranked if m.topic.role == MATTER), None)
    if (
        best_matter is not None
        and best_service is not None
        and best_matter.score >= weights.matter_share * best_service.score
    ):
        ranked.remove(best_matter)
        ranked.insert(0, best_matter)
        concerns = best_service.topic.key
    near = tuple(
        m.topic.key
        for m in ranked[1:]
        if m.score >= weights.near_tie * ranked[0].score and m.topic.key != concerns
    ) if ranked else ()  # fmt: skip
    return TopicChoice(ranked=tuple(ranked), near_ties=near, concerns=concerns)


# Per topic: (keyword, first token, number of tokens) of every match.
_Found = list[tuple[str, int, int]]


def _matches(index: KeywordIndex, analysed: Analysed, topics: Sequence[Topic]) -> dict[str, _Found]:
    out: dict[str, _Found] = {}
    for topic in topics:
        found: dict[int, tuple[str, int, int]] = {}
        for keyword in topic.keywords:
            for start, length in index.find_all(analysed, keyword):
                # One place is one piece of evidence: the longest keyword matching there speaks for it.
                if start not in found or length > found[start][2]:
                    found[start] = (keyword, start, length)
        if found:
            out[topic.key] = sorted(found.values(), key=lambda f: f[1])
    return out


def _specificity(matches: dict[str, _Found]) -> dict[int, float]:
    """Per token position: 1 / the number of topics it is evidence for."""
    topics_at: dict[int, int] = {}
    for found in matches.values():
        for _, start, _ in found:
            topics_at[start] = topics_at.get(start, 0) + 1
    return {position: 1.0 / n for position, n in topics_at.items()}


def _weigh(found: _Found, share: dict[int, float], analysed: Analysed, weights: Weights) -> list[Evidence]:
    total = max(len(analysed.tokens), 1)
    seen: dict[str, int] = {}
    evidence = []
    for keyword, start, length in found:
        weight = share[start]
        if start < analysed.subject_tokens:
            weight *= weights.subject
        weight *= 1 + weights.early * (1 - start / total)
        weight *= 1 + weights.phrase * (length - 1)
        repeats = seen.get(keyword, 0)
        weight *= weights.repeat**repeats
        seen[keyword] = repeats + 1
        word = " ".join(t.folded for t in analysed.tokens[start : start + length])
        evidence.append(Evidence(keyword=keyword, word=word, position=start, weight=round(weight, 3)))
    return evidence
