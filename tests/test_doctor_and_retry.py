"""Nothing stuck unseen: ``ingest doctor`` lists what is parked or failed, ``ingest retry`` revives it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from storage.models import Inquiry, Receipt
from tests.pipeline_office import MAIL, FlakyEmail, PipelineOffice, pipeline_office, receipt
from tests.support import write_config


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings()) as office:
        yield office


def ingest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ingest.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # four `ingest` processes
def test_doctor_lists_parked_and_retry_revives(world: PipelineOffice, tmp_path: Path) -> None:
    world.pipeline.channels = {"email": FlakyEmail(failures=100)}
    stored = world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
    for _ in range(world.settings.pipeline.max_attempts):
        world.clock.now += timedelta(hours=2)
        world.pipeline.process_due()
    assert receipt(world.engine, stored.id).next_attempt_at is None  # given up on automatically

    config = write_config(tmp_path, world.settings.database_url())
    doctor = ingest("doctor", "--config", str(config))
    assert doctor.returncode == 1
    attempts = world.settings.pipeline.max_attempts
    assert f"parked receipt {stored.id} (email via smtp, {attempts} attempts, no automatic retry)" in doctor.stdout
    assert "RuntimeError: simulated failure" in doctor.stdout
    assert "anna@client.example" not in doctor.stdout  # identifiers and errors, no client data

    assert ingest("retry", "--config", str(config)).returncode == 2  # says what to retry
    retried = ingest("retry", "--receipt", str(stored.id), "--config", str(config))
    assert retried.returncode == 0 and "1 receipt(s)" in retried.stdout

    world.pipeline.channels = {"email": FlakyEmail(failures=0)}  # the cause was fixed
    world.clock.now += timedelta(seconds=1)
    # The retry made it due at the real "now", which the test clock is past.
    world.clock.now = max(world.clock.now, receipt(world.engine, stored.id).next_attempt_at or world.clock.now)
    assert world.pipeline.process_due() == 1
    with Session(world.engine) as session:
        assert session.exec(select(Receipt)).one().status == "processed"
        assert len(session.exec(select(Inquiry)).all()) == 1
    healthy = ingest("doctor", "--config", str(config))
    assert healthy.returncode == 0 and "nothing parked, nothing failed" in healthy.stdout


@pytest.mark.slow  # an `ingest` process
def test_doctor_counts_automatic_mail_kept_without_an_inquiry(world: PipelineOffice, tmp_path: Path) -> None:
    """Kept automatic mail is no failure (exit 0), but the count by reason shows it (issue 14)."""
    bounce = b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\nSubject: Undelivered\r\n\r\nGone.\r\n"
    world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=bounce, meta={"envelope_from": ""})
    world.pipeline.process_due()
    doctor = ingest("doctor", "--config", str(write_config(tmp_path, world.settings.database_url())))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert 'automatic kept: {"bounce": 1}' in doctor.stdout
