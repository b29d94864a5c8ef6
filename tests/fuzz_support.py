"""Shared pieces of the fuzz tests (tests/test_fuzz_*.py): hypothesis profiles and a hang guard.

Profiles (pick one with ``GK_FUZZ_PROFILE``; the tests apply it per test, never as the global
default, so other hypothesis users in the suite are not affected):

- ``ci`` (default): derandomized (the same examples on every run and machine), no example
  database, so a CI failure reproduces locally with the same command.
- ``deep``: random, ten times the examples, with a failure database in
  ``$GK_FUZZ_DB`` (default: the system's temp dir), for a long local fuzzing session.

Hypothesis ``deadline`` only fires once an example *returns*; a real hang never does. So the
examples also run under :func:`hang_guard`, a SIGALRM timer that interrupts the test.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILE = os.environ.get("GK_FUZZ_PROFILE", "ci")

settings.register_profile(
    "gk-fuzz-ci",
    derandomize=True,
    database=None,
    print_blob=True,
    # Catches a pathological (quadratic) input, with room for a busy shared machine; not a speed target.
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "gk-fuzz-deep",
    parent=settings.get_profile("gk-fuzz-ci"),
    derandomize=False,
    database=DirectoryBasedExampleDatabase(
        str(Path(os.environ.get("GK_FUZZ_DB", tempfile.gettempdir())) / "gk-ingest-hypothesis")
    ),
)


def fuzz_settings(max_examples: int, **overrides: Any) -> settings:
    """Settings for one fuzz test: the chosen profile with this test's number of examples."""
    if PROFILE == "deep":
        max_examples *= 10
    return settings(settings.get_profile(f"gk-fuzz-{PROFILE}"), max_examples=max_examples, **overrides)


class Hang(BaseException):
    """Raised by the timer: a BaseException, so the code's own ``except Exception`` nets let it through."""


@contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread only; elsewhere the guard does nothing)."""
    try:
        previous = signal.signal(signal.SIGALRM, _raise_hang)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang:
        # An ordinary failure for hypothesis, which then shrinks and reports the input.
        raise AssertionError(f"still running after {seconds} s: a hang or a pathological input") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _raise_hang(signum: int, frame: Any) -> None:
    raise Hang("example still running after its time guard: a hang or a pathological input")
