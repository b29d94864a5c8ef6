"""Which employees a client's text names, in any script and case form.

A complaint names people as clients write them: "Kalniņu", "Kalninu", "Калниньша", "Kalninsha",
"Петрову". Each surname and each word of the text are reduced to one Latin skeleton
(router/translit.py), and the surname's stem (its skeleton less the last letter, where Latvian
and Russian endings change: Kalniņš, Kalniņa, Kalniņam; Петрова, Петрову, Петровой) is looked
for at the start of the words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Protocol

from router.keywords import tokens
from router.translit import name_skeleton


class Named(Protocol):
    @property
    def surname(self) -> str: ...


@lru_cache(maxsize=1024)  # the same few surnames, for every message
def surname_stems(surname: str) -> tuple[str, ...]:
    """Skeleton stems that find a surname despite Latvian and Russian case endings."""
    # Keeping all but the last letter finds the declined forms without catching shorter
    # words ("zari", branches). A Latvianised Russian surname (Ivanovs, Petrovs) is also written
    # without its -s in Cyrillic (Иванов), which the same stem finds.
    stems = []
    for word in tokens(surname):
        skeleton = name_skeleton(word)
        stems.append(skeleton[:-1] if len(skeleton) >= 5 else skeleton)
    return tuple(stems)


def named_employees(
    staff: Mapping[str, Named], texts: Iterable[str | None], sender_name: str | None = None
) -> list[str]:
    """The keys of the employees named in any of ``texts``, in staff order.

    The client's own name (in the signature too) names no employee: Anna Bērziņa is not the
    coordinator Ilze Bērziņa."""
    words = {name_skeleton(w) for text in texts for w in tokens(text or "")}
    own = [name_skeleton(w) for w in tokens(sender_name or "")]
    named = []
    for key, member in staff.items():
        stems = surname_stems(member.surname)
        if not stems or any(o.startswith(stem) for stem in stems for o in own):
            continue
        if any(w.startswith(stem) for stem in stems for w in words if len(w) >= len(stem)):
            named.append(key)
    return named
