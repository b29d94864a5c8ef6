"""Nothing stuck unseen: ``ingest doctor`` lists what is parked or failed, ``ingest retry`` revives it."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from storage.models import Inquiry, Receipt
from tests.test_cli import write_config
from tests.test_pipeline import MAIL, FlakyEmail, receipt, world  # noqa: F401 (fixture)


def ingest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ingest.cli", *args], capture_output=True, text=True, timeout=120)


def test_doctor_lists_parked_and_retry_revives(world: Any, tmp_path: Path) -> None:
    settings, engine, pipeline, store, clock = world
    pipeline.channels = {"email": FlakyEmail(failures=100)}
    stored = store.store_sync(pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
    for _ in range(settings.pipeline.max_attempts):
        clock.now += timedelta(hours=2)
        pipeline.process_due()
    assert receipt(engine, stored.id).next_attempt_at is None  # given up on automatically

    config = write_config(tmp_path, settings.database_url())
    doctor = ingest("doctor", "--config", str(config))
    assert doctor.returncode == 1
    assert (
        f"parked receipt {stored.id} (email via smtp, {settings.pipeline.max_attempts} attempts, no automatic retry)"
        in doctor.stdout
    )
    assert "RuntimeError: simulated failure" in doctor.stdout
    assert "anna@client.example" not in doctor.stdout  # identifiers and errors, no client data

    assert ingest("retry", "--config", str(config)).returncode == 2  # says what to retry
    retried = ingest("retry", "--receipt", str(stored.id), "--config", str(config))
    assert retried.returncode == 0 and "1 receipt(s)" in retried.stdout

    pipeline.channels = {"email": FlakyEmail(failures=0)}  # the cause was fixed
    clock.now += timedelta(seconds=1)
    # The retry made it due at the real "now", which the test clock is past.
    clock.now = max(clock.now, receipt(engine, stored.id).next_attempt_at or clock.now)
    assert pipeline.process_due() == 1
    with Session(engine) as session:
        assert session.exec(select(Receipt)).one().status == "processed"
        assert len(session.exec(select(Inquiry)).all()) == 1
    healthy = ingest("doctor", "--config", str(config))
    assert healthy.returncode == 0 and "nothing parked, nothing failed" in healthy.stdout
