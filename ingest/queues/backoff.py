"""Growing pauses between retries."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, maximum: float, *, jitter: float = 0.1) -> float:
    """Seconds to wait after the ``attempt``-th failure: base·2^(attempt-1), capped, ±jitter.

    The jitter keeps many items that failed together (a relay outage) from all
    retrying in the same second.
    """
    delay: float = min(maximum, base * (2.0 ** max(0, attempt - 1)))
    return max(0.0, delay * (1.0 + random.uniform(-jitter, jitter)))
