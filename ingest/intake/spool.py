"""A message as it arrives over SMTP: in memory while small, in a file of its own once large.

Four concurrent 28 MiB messages cost the listener about 600 MiB while aiosmtpd collected each as
a list of lines, joined them and kept both (issue 15, item 8). A :class:`SpooledMessage` holds at
most ``threshold`` bytes in memory; beyond that everything goes to a file under the spool folder
(``var/smtp-spool/``), written through a small buffer, and is read back in chunks when the receipt
is stored (``storage/receipt_blobs.py``).

A spooled message may be held by the SMTP session and by the commit storing it, which outlives a
session whose client went away; each holder :meth:`~SpooledMessage.retain`\\ s it and releases it,
and the file is removed when the last lets go. Files left by a process that died (kill -9, power
loss) carry its pid in their name and are removed by :meth:`Spool.sweep` at the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from channels.email import header_block, natural_id_from

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024  # read back this much at a time
WRITE_BUFFER = 64 * 1024  # lines of ~80 bytes go to the file in writes of this size


class Spool:
    """Where large messages go while they arrive; one per listener."""

    def __init__(self, folder: Path, *, threshold: int) -> None:
        self.folder = folder
        self.threshold = threshold

    def new(self) -> SpooledMessage:
        return SpooledMessage(self.folder, threshold=self.threshold)

    def sweep(self) -> int:
        """Remove files of processes no longer running (and of this pid, reused); how many."""
        removed = 0
        for path in self.folder.glob("*.eml"):
            pid = path.name.partition("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and _running(int(pid)):
                continue  # another live process on the same data folder is receiving it
            path.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("smtp spool: removed %d file(s) left by a stopped process", removed)
        return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


class SpooledMessage:
    """The bytes of one message (after dot-unstuffing), written once, then read any number of times."""

    def __init__(self, folder: Path, *, threshold: int) -> None:
        self._folder = folder
        self._threshold = threshold
        self._memory: bytearray | None = bytearray()
        self._file: BinaryIO | None = None
        self.path: Path | None = None
        self.size = 0
        self._holders = 1  # the session that receives it

    @property
    def on_disk(self) -> bool:
        return self.path is not None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        assert self._memory is not None, "written after it was discarded"
        self._memory += data
        if len(self._memory) > self._threshold:
            self._to_disk()

    def _to_disk(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mkstemp: mode 0600, a name no one else holds; the pid lets a later start sweep what a dead
        # process left.
        fd, name = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".eml", dir=self._folder)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb", buffering=WRITE_BUFFER)
        assert self._memory is not None
        self._file.write(self._memory)
        self._memory = None

    def finish(self) -> None:
        """All of it has arrived: the file is flushed and closed (readers open their own)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def read_all(self) -> bytes:
        """All of it at once: for a message kept in memory, or a store that takes only whole values."""
        if self._memory is not None:
            return bytes(self._memory)
        assert self.path is not None, "read after it was discarded"
        return self.path.read_bytes()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        if self._memory is not None:
            yield from (bytes(self._memory[i : i + size]) for i in range(0, len(self._memory), size))
            return
        assert self.path is not None, "read after it was discarded"
        with self.path.open("rb") as file:
            while chunk := file.read(size):
                yield chunk

    def head(self) -> bytes:
        """The header block (:func:`channels.email.header_block`), read from the start only."""
        found = bytearray()
        for chunk in self.chunks(64 * 1024):
            start = max(0, len(found) - 2)  # an empty line may straddle two chunks
            found += chunk
            if found.find(b"\n\n", start) >= 0 or found.find(b"\n\r\n", start) >= 0:
                break
        return header_block(bytes(found))

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    def natural_id(self) -> str:
        """The e-mail channel's natural id of these bytes (``channels.email.natural_id``), from the
        header block and, without a Message-ID, a hash read in chunks."""
        return natural_id_from(self.head(), self.sha256)

    def retain(self) -> None:
        self._holders += 1

    def release(self) -> None:
        """One holder lets go; the last one's release removes the file."""
        self._holders -= 1
        if self._holders <= 0:
            self.discard()

    def discard(self) -> None:
        """Remove the file and forget the bytes now, whoever holds it (idempotent): a message over
        the size limit, or the last holder gone."""
        self._holders = 0
        if self._file is not None:
            with contextlib.suppress(OSError):  # the disk that refused a write refuses the last flush
                self._file.close()
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
        self._memory = None
