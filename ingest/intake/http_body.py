"""Reading a webhook's body with a size limit, before anything parses it."""

from __future__ import annotations

from fastapi import Request


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; BodyTooLarge as soon as the declared length or the bytes read pass ``limit``.

    The body is read in chunks and stopped at the limit, so a sender cannot make the service
    hold an arbitrarily large body in memory.
    """
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
