"""A person's name as the service compares it with another's (link suggestions,
ingest/pipeline/link_suggest.py): "Jānis Bērziņš", "JANIS BERZINS" and "Bērziņš, Jānis" are one
name. Letters only, without diacritics, case folded, one-letter words (initials: "Anna L.")
left out, the words sorted; stored on the contact
(``contact.name_key``, migration 0016) so that finding the same name is one indexed look-up.
"""

from __future__ import annotations

import unicodedata

# Longer keys are cut: a name that long is compared by its first part only.
MAX_LENGTH = 200


def name_key(name: str | None) -> str | None:
    """The key of ``name``; None for a name of fewer than two words of two letters or more (a first
    name alone, "Anna", or with an initial, "Anna L.", would match half the town)."""
    if not name:
        return None
    letters = "".join(
        c if c.isalpha() else " " for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    )
    words = sorted(word for word in letters.casefold().split() if len(word) > 1)
    if len(words) < 2:
        return None
    return " ".join(words)[:MAX_LENGTH]
