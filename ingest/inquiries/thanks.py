"""Whether a client's message after an answer is only a thank-you ("Jā, der. Paldies!").

Such a message reopens the inquiry like any other, so nothing the client writes is ever left
unread; the inquiry page then offers to close it in one click ("no answer needed") without
writing to the client again. Deciding stays with the employee: this only picks what to offer.
"""

from __future__ import annotations

import re

from channels.email_quote import split_reply

# Words that thank, and words that say there is more to it ("Paldies, bet konteiners nav izvests").
THANKING = frozenset({"paldies", "pateicos", "спасибо", "благодарю", "thanks", "thank", "thx"})
BUT = frozenset({"bet", "taču", "tomēr", "nav", "ne", "но", "однако", "не", "нет", "but", "however", "not", "still"})
# Longer than this it says more than thanks, whatever words it has.
MAX_CHARS = 160


def looks_like_thanks(text: str) -> bool:
    """A short message that thanks, asks nothing and says little else."""
    body, _ = split_reply(text or "")
    body = body.strip()
    if not body or len(body) > MAX_CHARS or "?" in body:
        return False
    words = re.findall(r"\w+", body.lower())
    return len(words) <= 12 and any(w in THANKING for w in words) and not any(w in BUT for w in words)
