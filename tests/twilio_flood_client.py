"""The flood test's client, in a process of its own so it does not share the service's GIL.

python -m tests.twilio_flood_client BASE_URL REQUESTS.json CONCURRENCY -> prints JSON:
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


async def flood(base: str, requests: list[list[list[str]]], concurrency: int) -> dict[str, object]:
    limit = asyncio.Semaphore(concurrency)
    statuses: collections.Counter[str] = collections.Counter()
    acked: list[str] = []
    errors: collections.Counter[str] = collections.Counter()
    waits: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(fields: list[list[str]]) -> None:
            kwargs = signed_post(INBOUND, [(k, v) for k, v in fields])
            async with limit:
                sent = time.monotonic()
                try:
                    response = await client.post(INBOUND, **kwargs)
                except httpx.HTTPError as exc:
                    statuses["error"] += 1
                    errors[f"{type(exc).__name__} after {time.monotonic() - sent:.1f} s"] += 1
                    return
            waits.append(time.monotonic() - sent)
            statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                acked.append(dict(fields)["MessageSid"])

        started = time.monotonic()
        await asyncio.gather(*(one(f) for f in requests))
        seconds = time.monotonic() - started
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
    with open(path, encoding="utf-8") as fh:
        requests = json.load(fh)
    print(json.dumps(asyncio.run(flood(base, requests, concurrency))))


if __name__ == "__main__":
    main()
