"""Russian typed in Latin letters, and names across the Latin and Cyrillic scripts.

Clients without a Cyrillic keyboard write Russian as it sounds ("Musor ne vyvozjat", "schet za
vyvoz musora"). There is no one scheme: ``sch`` is щ or сч, ``y`` is ы or й, ``h`` is х, ``e`` is
е or э, ``ja``/``ya`` is я. A library gives one reading of one scheme (ISO 9, GOST); a small table
that yields the few readings of each word finds the keyword whichever the client meant.

Names go the other way: a surname written "Калниньша" or "Kalninsha" is reduced to the same Latin
skeleton as "Kalniņš" (soft signs and softening dropped, ш/š/sh → s), so one stem finds it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import product

from router.lexicon import fold

# Longest first: "shch" before "sch" before "sh".
_LATIN_TO_CYRILLIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("shch", ("щ",)),
    ("sch", ("щ", "сч")),
    ("sh", ("ш",)),
    ("ch", ("ч",)),
    ("zh", ("ж",)),
    ("kh", ("х",)),
    ("ts", ("ц", "тс")),
    ("tz", ("ц",)),
    ("ya", ("я",)),
    ("ja", ("я",)),
    ("yu", ("ю",)),
    ("ju", ("ю",)),
    ("yo", ("ё", "йо")),
    ("jo", ("ё", "йо")),
    ("ye", ("е",)),
    ("je", ("е",)),
    ("ij", ("ий",)),
    ("yj", ("ый",)),
    ("iy", ("ий",)),
    ("y", ("ы",)),
    ("a", ("а",)),
    ("b", ("б",)),
    ("v", ("в",)),
    ("w", ("в",)),
    ("g", ("г",)),
    ("d", ("д",)),
    ("e", ("е", "э")),
    ("z", ("з",)),
    ("i", ("и",)),
    ("j", ("й",)),
    ("k", ("к",)),
    ("l", ("л",)),
    ("m", ("м",)),
    ("n", ("н",)),
    ("o", ("о",)),
    ("p", ("п",)),
    ("r", ("р",)),
    ("s", ("с",)),
    ("t", ("т",)),
    ("u", ("у",)),
    ("f", ("ф",)),
    ("h", ("х", "г")),
    ("c", ("ц", "к")),
    ("x", ("кс",)),
    ("q", ("к",)),
    ("'", ("ь",)),
)
_VOWELS = frozenset("aeiouy")
# A word of more readings than this is cut to the first ones: each reading costs a lookup.
MAX_READINGS = 8
_LATIN_WORD = re.compile(r"^[a-z']+$")


@lru_cache(maxsize=65536)
def cyrillic_readings(word: str) -> tuple[str, ...]:
    """The Cyrillic words a Latin-letter word may stand for (empty if it is not plain Latin)."""
    if not _LATIN_WORD.match(word):
        return ()
    options: list[tuple[str, ...]] = []
    i = 0
    while i < len(word):
        for latin, cyrillic in _LATIN_TO_CYRILLIC:
            if word.startswith(latin, i):
                options.append(_in_context(word, i, latin, cyrillic))
                i += len(latin)
                break
        else:
            return ()
    readings: list[str] = []
    for combination in product(*options):
        readings.append("".join(combination))
        if len(readings) >= MAX_READINGS:
            break
    return tuple(readings)


def _in_context(word: str, i: int, latin: str, cyrillic: tuple[str, ...]) -> tuple[str, ...]:
    # "y" after a vowel is й (dobryj, zdravstvuyte), after a consonant ы (vyvoz, holodnye).
    if latin == "y":
        return ("й",) if i and word[i - 1] in _VOWELS else ("ы",)
    # "e" opening a word is as often э (eto) as е (esli); inside one it is е.
    if latin == "e" and i:
        return ("е",)
    return cyrillic


# Cyrillic to the Latin skeleton of a name: Latvian spellings fold to the same letters.
_CYRILLIC_TO_SKELETON = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "z", "з": "z", "и": "i",
        "й": "j", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
        "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "c", "ш": "s", "щ": "s", "ъ": "", "ы": "i", "ь": "",
        "э": "e", "ю": "u", "я": "a",
    }
)  # fmt: skip
_LATIN_DIGRAPHS = (("shch", "s"), ("sch", "s"), ("sh", "s"), ("ch", "c"), ("zh", "z"), ("kh", "h"), ("ts", "c"))
# A consonant softened before a vowel (ņa → ня → nja/nya) reads as the plain consonant and vowel.
_SOFTENING = re.compile(r"(?<=[bcdfghklmnprstvz])[jy](?=[aeiou])")


@lru_cache(maxsize=65536)  # every word of every message is reduced, and words repeat
def name_skeleton(word: str) -> str:
    """A word reduced so that Latvian, Cyrillic and Latin-letter Russian spellings of a name meet:
    Kalniņš, Калниньш, Kalninsh → kalnins; Zariņa, Зариня, Zarinja → zarina."""
    folded = fold(word)
    if any("\u0400" <= c <= "\u04ff" for c in word.casefold()):
        return word.casefold().translate(_CYRILLIC_TO_SKELETON)
    for latin, plain in _LATIN_DIGRAPHS:
        folded = folded.replace(latin, plain)
    return _SOFTENING.sub("", folded)
