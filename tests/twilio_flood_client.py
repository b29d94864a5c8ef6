"""The flood test's client, in a process of its own so it does not share the service's GIL.

python -m tests.twilio_flood_client BASE_URL REQUESTS.json CONCURRENCY [STALL_MARKER] -> prints JSON:
{"statuses": {"200": n, "error": n, ...}, "acked": [MessageSid answered 200, ...], "seconds": s,
 "errors": {"ReadTimeout after 60.0 s": n, ...}, "answered_in": {"p50": s, "p99": s, "max": s}}
(what the errors were, to tell a kill from a stall, and how long the answers took).
REQUESTS.json holds a list of form-field lists. A request that gets no answer (the service was
killed) counts as "error".
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time

import httpx

from tests.twilio_helpers import INBOUND, signed_post

# A request unanswered this long is told through the marker file (its caller then dumps the
# service's threads): Twilio itself waits 15 s.
STALL_SECONDS = 20.0


async def watch(pending: dict[int, float], marker: str) -> None:
    """Write ``marker`` once, when a request has waited STALL_SECONDS."""
    while True:
        await asyncio.sleep(1)
        oldest = min(pending.values(), default=time.monotonic())
        if time.monotonic() - oldest > STALL_SECONDS:
            with open(marker, "w", encoding="utf-8") as fh:
                fh.write(f"{len(pending)} requests pending, the oldest {time.monotonic() - oldest:.1f} s\n")
            return


async def flood(
    base: str, requests: list[list[list[str]]], concurrency: int, marker: str | None = None
) -> dict[str, object]:
    pending: dict[int, float] = {}
    limit = asyncio.Semaphore(concurrency)
    statuses: collections.Counter[str] = collections.Counter()
    acked: list[str] = []
    errors: collections.Counter[str] = collections.Counter()
    waits: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(fields: list[list[str]]) -> None:
            kwargs = signed_post(INBOUND, [(k, v) for k, v in fields])
            async with limit:
                sent = pending[id(fields)] = time.monotonic()
                try:
                    response = await client.post(INBOUND, **kwargs)
                except httpx.HTTPError as exc:
                    del pending[id(fields)]
                    statuses["error"] += 1
                    errors[f"{type(exc).__name__} after {time.monotonic() - sent:.1f} s"] += 1
                    return
            del pending[id(fields)]
            waits.append(time.monotonic() - sent)
            statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                acked.append(dict(fields)["MessageSid"])

        started = time.monotonic()
        watcher = asyncio.create_task(watch(pending, marker)) if marker else None
        await asyncio.gather(*(one(f) for f in requests))
        seconds = time.monotonic() - started
        if watcher is not None:
            watcher.cancel()
    waits.sort()
    slowest = {"p50": waits[len(waits) // 2], "p99": waits[len(waits) * 99 // 100], "max": waits[-1]} if waits else {}
    return {
        "statuses": dict(statuses),
        "acked": acked,
        "seconds": seconds,
        "errors": dict(errors),
        "answered_in": slowest,
    }


def main() -> None:
    base, path, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    marker = sys.argv[4] if len(sys.argv) > 4 else None
    with open(path, encoding="utf-8") as fh:
        requests = json.load(fh)
    print(json.dumps(asyncio.run(flood(base, requests, concurrency, marker))))


if __name__ == "__main__":
    main()
