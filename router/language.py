"""Which language a client writes in (lv, ru or en), without holding whole dictionaries.

Cyrillic text is Russian. Latin text is scored per language by the share of its words that are
that language's: frequent words (a few hundred, below), Latvian letters (ā, š, ņ…), English
letter patterns, and for Russian typed in Latin letters the Cyrillic readings of a word that are
frequent Russian words or forms of a Russian keyword. The best share wins when it says enough
(over a tenth of the words, as simplemma's detector did); otherwise the office's default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from router.lexicon import fold
from router.translit import cyrillic_readings

LANGUAGES = ("lv", "ru", "en")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_LATVIAN_LETTERS = frozenset("āčēģīķļņšūž")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent words, folded (diacritics stripped, so that Latvian typed without them counts too).
_LV = _words(
    """
    un ir ar no par uz ka kas vai lai bet jau mums man mes jus jums musu jusu mana mans savu sava
    labdien sveiki paldies ludzu nav tiek netiek pie ta tas ta so to vel kad kapec ari es var varu
    varetu vareja vajag lidz pec pirms kops jo tad te tur seit sodien vakar ritdien nedela nedelu
    dienas diena gada menesi majas maja iela ielas dzivokli dzivoklis kapnu telpa gads cien
    jau ari ja ne nu vien tikai joprojam atkal ludzam velos velamies lugums jautajums sakara
    atbildi zinu zinat pasakiet pastastiet cik kur kurs kura kuri tapec parbaudiet
    """
)
_EN = _words(
    """
    the and is are of to in for on our we you it this that was were not have has be please hello
    with my from at by an as or but if no yes can could would should will there their they them
    what when why how who which do does did been am me us your i a dear hi thank thanks regards
    since still again any all some more than been about after before into out up down over
    week weeks day days month today yesterday street house flat building apartment near front
    """
)
# Frequent Russian words in Cyrillic, matched against the Cyrillic readings of Latin-letter words.
_RU = _words(
    """
    не нет и в на с у я мы вы он она они это что как когда почему уже очень пожалуйста спасибо
    здравствуйте добрый день вечер утро нас вас нам вам мне меня мой моя наш наша ваш по за от до
    для из к о об при без так там тут где еще ещё или но да ли бы же только все всё был была были
    есть будет можно нужно надо прошу просим помогите квартира квартире дом доме дома подъезде
    улице улица двор дворе неделю недели дня дней два три раза вопрос сколько кто чем чтобы если
    """
)
_ENGLISH_PATTERN = re.compile(r"th|wh|ck|ee|oo|ou|ing$|tion|w|q|x|y$")


def detect_language(text: str, default: str = "lv", russian_form: Callable[[str], bool] | None = None) -> str:
    """lv, ru or en; ``default`` when the text says too little.

    ``russian_form`` tells whether a Cyrillic word is a form of a Russian keyword (the lexicon):
    "musor", "otoplenija" count as Russian though they are not among the frequent words."""
    sample = text[:2000]
    if not sample.strip():
        return default
    letters, cyrillic = letter_counts(sample)
    if letters and cyrillic / letters > 0.3:
        return "ru"
    scores = latin_scores(_WORD.findall(sample.casefold()), russian_form)
    best = max(LANGUAGES, key=lambda lang: scores[lang])
    return best if scores[best] > 0.1 else default


def letter_counts(sample: str) -> tuple[int, int]:
    """How many letters, and how many of them Cyrillic: counted in C, not with a regex per letter
    (it ran for every character of every message)."""
    return sum(map(str.isalpha, sample)), sum(map(str.isalpha, _CYRILLIC.findall(sample)))


def latin_scores(words: Sequence[str], russian_form: Callable[[str], bool] | None = None) -> dict[str, float]:
    """The share of the words that speak for each language."""
    counts = dict.fromkeys(LANGUAGES, 0)
    words = [w for w in words if not _CYRILLIC.search(w)]
    frequent_russian = 0
    for word in words:
        latvian, english, russian = _word_signs(word, russian_form)
        counts["lv"] += latvian
        counts["en"] += english
        counts["ru"] += russian > 0
        frequent_russian += russian == 2
    # Keyword forms alone do not make Russian: "kontejners pilns" is Latvian misspelt, not "контейнерс".
    if len(words) > 1 and not frequent_russian:
        counts["ru"] = 0
    total = max(len(words), 1)
    return {lang: counts[lang] / total for lang in LANGUAGES}


@lru_cache(maxsize=50_000)  # the same words come back in every message; a bounded cache
def _word_signs(word: str, russian_form: Callable[[str], bool] | None) -> tuple[bool, bool, int]:
    """Whether a Latin-letter word speaks for Latvian, for English, and :func:`looks_russian`."""
    folded = fold(word)
    latvian = folded in _LV or any(c in _LATVIAN_LETTERS for c in word)
    english = folded in _EN or bool(len(word) > 2 and _ENGLISH_PATTERN.search(word) and word == folded)
    return latvian, english, looks_russian(word, russian_form)


def looks_russian(word: str, russian_form: Callable[[str], bool] | None = None) -> int:
    """2 when a Cyrillic reading of the Latin-letter word is a frequent Russian word, 1 when it is
    a form of a Russian keyword, else 0."""
    found = 0
    for reading in cyrillic_readings(word):
        if reading in _RU:
            return 2
        if russian_form is not None and len(reading) > 3 and russian_form(reading):
            found = 1
    return found
