"""The keyword lexicon: just the word forms that can lead to a configured keyword.

simplemma's lv, ru and en dictionaries hold 1.9 million forms and take about 200 MiB and
several seconds of CPU to decode. The router only ever asks one question of them: does this
client's word have the lemma of one of our keywords? So the lexicon keeps only the answer:
every form, in each language, whose lemma is a keyword lemma, and the lemmas of the keyword
words themselves. It is built once per simplemma version and keyword set (the only time the
dictionaries are decoded), written as a small JSON file to the data folder given, and read
back in milliseconds by every later start.

A form is found as typed (case-folded) and with its diacritics folded (``udeni`` finds
``ūdeni``'s lemma ``ūdens``; ``счет`` finds ``счёт``'s).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

log = logging.getLogger(__name__)

LANGUAGES = ("lv", "ru", "en")
# Bumped whenever what the file holds, or how it is built, changes: an old file is then rebuilt.
FORMAT = 1


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case ``text`` and strip its diacritics (ā→a, š→s, ё→е, й→и)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Lexicon:
    """Keyword lemmas by keyword word, and keyword lemmas by word form (as typed and folded)."""

    keyword_lemmas: Mapping[str, frozenset[str]]  # case-folded keyword word -> its folded lemmas
    forms: Mapping[str, Mapping[str, frozenset[str]]]  # language -> case-folded form -> folded lemmas
    folded: Mapping[str, frozenset[str]]  # folded form (any language) -> folded lemmas

    def lemmas(self, word: str) -> frozenset[str]:
        """Keyword lemmas of a case-folded word in any language (empty when none)."""
        found: set[str] = set()
        for table in self.forms.values():
            found.update(table.get(word, ()))
        found.update(self.folded.get(fold(word), ()))
        return frozenset(found)

    def language_of(self, word: str) -> frozenset[str]:
        """The languages in which the case-folded ``word`` is a form of a keyword lemma."""
        return frozenset(lang for lang, table in self.forms.items() if word in table)


# Lexicons shipped with the code: the example configuration's (``python -m router.lexicon --ship``).
SHIPPED = Path(__file__).resolve().parent / "lexicons"


def simplemma_version() -> str:
    try:
        return version("simplemma")
    except PackageNotFoundError:  # pragma: no cover - simplemma is a dependency
        return "unknown"


def lexicon_key(words: Iterable[str]) -> str:
    """The cache key: the format, simplemma's version and the keyword words."""
    payload = json.dumps([FORMAT, simplemma_version(), sorted(set(words))], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def load_lexicon(words: Iterable[str], folder: Path | None = None) -> Lexicon:
    """The lexicon for these keyword words: read from ``folder`` when built before, else built
    (and written there when a folder is given). Built at most once per process and word set."""
    wanted = frozenset(words)
    name = f"keyword-lexicon-{lexicon_key(wanted)}.json"
    path = folder / name if folder is not None else None
    # The data folder's copy, else the one shipped for the example configuration's keywords (a
    # first start and every test of that configuration then build nothing).
    for candidate in (path, SHIPPED / name):
        if candidate is not None and candidate.exists():
            try:
                return _from_document(json.loads(candidate.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("keyword lexicon %s unreadable (%s): building it again", candidate, exc)
    document = _document_for(wanted)
    if path is not None:
        _write(path, document)
    return _from_document(document)


@lru_cache(maxsize=4)
def _document_for(words: frozenset[str]) -> dict[str, object]:
    # Once per process and word set: tests and commands that build several routers build it once.
    # In a child process when one can be started, so that this one never holds the dictionaries
    # (freed memory is not all given back to the system: a service would keep ~200 MiB).
    return _built_in_child(words) or build_document(words)


def _built_in_child(words: frozenset[str]) -> dict[str, object] | None:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "router.lexicon"],
            input=json.dumps(sorted(words), ensure_ascii=False),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=600,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        document: dict[str, object] = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.warning("keyword lexicon not built in a child process (%s): building it here", exc)
        return None
    log.info("keyword lexicon built in %.1f s (%d keyword words)", time.monotonic() - started, len(words))
    return document


def build_document(words: Iterable[str]) -> dict[str, object]:
    """Decode simplemma's dictionaries and keep what leads to the keyword words' lemmas."""
    from simplemma import Lemmatizer
    from simplemma.strategies import DefaultStrategy
    from simplemma.strategies.dictionaries.dictionary_factory import DefaultDictionaryFactory

    # A factory of our own, not simplemma's process-wide one: the decoded dictionaries are freed
    # when the build returns instead of staying for the life of the process.
    factory = DefaultDictionaryFactory()
    lemmatizer = Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=factory))
    keyword_lemmas: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        found = {fold(word)}
        for lang in LANGUAGES:
            # The full lemmatizer (rules and decompositions too), as the router used before.
            found.add(fold(lemmatizer.lemmatize(word, lang=lang)))
        keyword_lemmas[word] = sorted(found)
    wanted = frozenset(lemma for lemmas in keyword_lemmas.values() for lemma in lemmas)
    forms = {lang: _forms_of(_raw(factory, lang), wanted) for lang in LANGUAGES}
    return {"format": FORMAT, "simplemma": simplemma_version(), "keywords": keyword_lemmas, "forms": forms}


def _raw(factory: object, lang: str) -> Mapping[bytes, bytes]:
    dictionary = factory.get_dictionary(lang)  # type: ignore[attr-defined]
    raw = getattr(dictionary, "_dict", None)
    if isinstance(raw, dict):
        return raw
    # Another backend: encode its items, slower but the same answer.
    return {k.encode(): v.encode() for k, v in dictionary.items()}


def _forms_of(raw: Mapping[bytes, bytes], wanted: frozenset[str]) -> dict[str, list[str]]:
    """Case-folded form -> folded lemmas, for the forms whose lemma is wanted.

    simplemma looks a lower-case word up as typed, then capitalised; a capitalised entry counts
    only when the lower-case one is absent, as in its lookup."""
    hits: dict[bytes, str] = {}
    for lemma in set(raw.values()):
        folded = fold(lemma.decode())
        if folded in wanted:
            hits[lemma] = folded
    out: dict[str, set[str]] = {}
    for form, lemma in _items_with(raw, hits):
        text = form.decode()
        lower = text.casefold()
        if text == lower or (text == lower.capitalize() and lower.encode() not in raw):
            out.setdefault(lower, set()).add(hits[lemma])
    return {form: sorted(lemmas) for form, lemmas in sorted(out.items())}


def _items_with(raw: Mapping[bytes, bytes], lemmas: Mapping[bytes, str]) -> Iterator[tuple[bytes, bytes]]:
    return ((form, lemma) for form, lemma in raw.items() if lemma in lemmas)


def _from_document(document: Mapping[str, object]) -> Lexicon:
    if document.get("format") != FORMAT:
        raise ValueError(f"format {document.get('format')!r}, not {FORMAT}")
    keywords = document["keywords"]
    forms = document["forms"]
    assert isinstance(keywords, dict) and isinstance(forms, dict)
    tables = {lang: {form: frozenset(lemmas) for form, lemmas in forms[lang].items()} for lang in LANGUAGES}
    folded: dict[str, set[str]] = {}
    for table in tables.values():
        for form, lemmas in table.items():
            folded.setdefault(fold(form), set()).update(lemmas)
    return Lexicon(
        keyword_lemmas={word: frozenset(lemmas) for word, lemmas in keywords.items()},
        forms=tables,
        folded={form: frozenset(lemmas) for form, lemmas in folded.items()},
    )


def _write(path: Path, document: Mapping[str, object]) -> None:
    """Written beside and renamed: a reader never sees half a file, and a failure leaves none."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        # The router works without the file; the next start builds again.
        log.warning("keyword lexicon not saved to %s: %s", path, exc)


def main() -> None:
    """``python -m router.lexicon``: keyword words (a JSON list) in, the lexicon's document out.
    ``--ship WORDS.json``: write the lexicon of those words into the shipped folder instead."""
    if sys.argv[1:2] == ["--ship"]:
        words = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
        _write(SHIPPED / f"keyword-lexicon-{lexicon_key(words)}.json", build_document(words))
        return
    words = json.loads(sys.stdin.read())
    sys.stdout.write(json.dumps(build_document(words), ensure_ascii=False))


if __name__ == "__main__":
    main()
