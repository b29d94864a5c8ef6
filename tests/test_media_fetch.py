"""Twilio media is downloaded outside the webhook: retried, size-limited, and given up with a record.

The fetcher runs against a local HTTP server that plays Twilio's media URLs (basic auth, then a
redirect to a media store on another origin); the pipeline and the fetcher run on both databases.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from ingest.assembly import media_fetcher
from ingest.cli import main as cli_main
from ingest.intake.media_fetch import MediaFetcher
from ingest.intake.receipts import ReceiptStore
from ingest.pipeline.runner import Pipeline
from storage.db import SessionFactory, transaction
from storage.media_repo import claim_media
from storage.models import Attachment, Event
from storage.twilio_models import MediaFetch
from storage.types import utcnow
from tests.pipeline_office import Clock, pipeline_office
from tests.twilio_helpers import ACCOUNT, FakeMessagesApi, twilio_section

MEDIA = f"/2010-04-01/Accounts/{ACCOUNT}/Messages/MM{'1' * 32}/Media/ME"


def form(sid: str, media: list[tuple[str, str]]) -> bytes:
    fields = {
        "MessageSid": sid,
        "From": "whatsapp:+37129111222",
        "To": "whatsapp:+37167000000",
        "Body": "Foto no pagalma",
        "NumMedia": str(len(media)),
        "WaId": "37129111222",
    }
    for i, (url, ctype) in enumerate(media):
        fields[f"MediaUrl{i}"], fields[f"MediaContentType{i}"] = url, ctype
    return urllib.parse.urlencode(fields).encode()


@dataclass(frozen=True)
class MediaWorld:
    """Twilio's media URLs played by a local server, the pipeline, and the fetcher on one clock."""

    api: FakeMessagesApi
    engine: Any
    sessions: SessionFactory
    pipeline: Pipeline
    store: ReceiptStore
    clock: Clock
    fetcher: MediaFetcher
    config: Path  # a configuration file for the `ingest` command on this test's database


@pytest.fixture
def world(make_settings: Any, tmp_path: Path) -> Iterator[MediaWorld]:
    with FakeMessagesApi() as api:
        settings = make_settings(
            twilio=twilio_section(api_base_url=api.url, media_max_bytes=1000),
            media_fetch={"max_attempts": 3, "backoff_base_seconds": 60},
        )
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "{settings.database_url()}"\n'
            '[routing]\nfallback_employee = "a"\n'
            '[[employees]]\nkey = "a"\nname = "A"\nsurname = "B"\nposition = "C"\nemail = "a@example.lv"\n',
            encoding="utf-8",
        )
        with pipeline_office(settings) as o:
            fetcher = media_fetcher(settings, o.sessions, o.clock)
            assert isinstance(fetcher, MediaFetcher)
            yield MediaWorld(api, o.engine, o.sessions, o.pipeline, o.store, o.clock, fetcher, config)


def media_rows(engine: Any) -> dict[str, tuple[MediaFetch, Attachment]]:
    with Session(engine) as session:
        out = {}
        for row in session.exec(select(MediaFetch)).all():
            out[row.url.rsplit("/", 1)[-1]] = (row, session.get(Attachment, row.attachment_id))
        return out


def test_media_is_fetched_retried_limited_and_given_up(world: MediaWorld, capsys: Any) -> None:
    small, big, flaky = b"x" * 900, b"y" * 1001, b"z" * 10  # "gone" is never there: Twilio answers 404
    urls = [
        (world.api.add_media(MEDIA + "small", "image/png", small), "image/png"),
        (world.api.add_media(MEDIA + "big", "video/mp4", big), "video/mp4"),
        (world.api.add_media(MEDIA + "flaky", "audio/ogg", flaky), "audio/ogg"),
        (world.api.url + MEDIA + "gone", "image/jpeg"),  # Twilio answers 404 every time
        ("http://169.254.169.254/latest/meta-data", "text/plain"),  # not Twilio: never requested
    ]
    world.api.media_failures[MEDIA + "flaky"] = 2
    world.store.store_sync(world.pipeline.channels["whatsapp"], source="twilio", raw=form("SM1", urls), meta={})
    world.pipeline.process_due()
    # The webhook stored nothing but the form: five attachments wait without bytes.
    assert {name: (r.status, a.data) for name, (r, a) in media_rows(world.engine).items()} == {
        "MEsmall": ("pending", None),
        "MEbig": ("pending", None),
        "MEflaky": ("pending", None),
        "MEgone": ("pending", None),
        "meta-data": ("pending", None),
    }

    assert world.fetcher.fetch_due() == 5
    first = media_rows(world.engine)
    assert (first["MEsmall"][0].status, first["MEsmall"][1].data) == ("fetched", small)
    assert first["MEsmall"][1].filename == "MEsmall.png" and first["MEsmall"][1].sha256
    assert first["MEbig"][0].status == "failed" and "1000-byte limit" in (first["MEbig"][1].omitted_reason or "")
    assert first["meta-data"][0].status == "failed" and "not a Twilio media URL" in (
        first["meta-data"][0].last_error or ""
    )
    assert first["MEflaky"][0].status == "pending" and "HTTP 500" in (first["MEflaky"][0].last_error or "")
    assert first["MEgone"][0].status == "pending" and "HTTP 404" in (first["MEgone"][0].last_error or "")
    assert not any("169.254" in (r["host"] or "") for r in world.api.media_requests)
    assert world.fetcher.fetch_due() == 0  # the retries wait for their backoff

    for _ in range(2):
        world.clock.now += timedelta(hours=2)
        world.fetcher.fetch_due()
    final = media_rows(world.engine)
    assert (final["MEflaky"][0].status, final["MEflaky"][1].data, final["MEflaky"][0].attempts) == ("fetched", flaky, 3)
    assert (final["MEgone"][0].status, final["MEgone"][0].attempts) == ("failed", 3)
    assert "could not be fetched" in (final["MEgone"][1].omitted_reason or "")
    with Session(world.engine) as session:
        events = [e.type for e in session.exec(select(Event).order_by(Event.id)).all()]
    assert events.count("media_fetched") == 2 and events.count("media_failed") == 3

    # What was given up is listed by `ingest doctor` and queued again by `ingest retry`.
    assert cli_main(["doctor", "--config", str(world.config)]) == 1
    listed = capsys.readouterr().out
    assert listed.count("media not fetched") == 3 and "HTTP 404" in listed
    gone_id = final["MEgone"][0].id
    assert cli_main(["retry", "--media", str(gone_id), "--config", str(world.config)]) == 0
    assert "1 media item(s)" in capsys.readouterr().out
    world.api.add_media(MEDIA + "gone", "image/jpeg", b"now here")
    world.clock.now = max(world.clock.now, utcnow()) + timedelta(seconds=1)  # `ingest retry` queues it for the real now
    assert world.fetcher.fetch_due() == 1
    assert media_rows(world.engine)["MEgone"][1].data == b"now here"


def test_a_fetcher_that_died_leaves_its_media_to_the_next(world: MediaWorld) -> None:
    url = world.api.add_media(MEDIA + "one", "image/png", b"png")
    world.store.store_sync(
        world.pipeline.channels["whatsapp"], source="twilio", raw=form("SM2", [(url, "image/png")]), meta={}
    )
    world.pipeline.process_due()
    with transaction(world.sessions) as session:  # claimed by a fetcher that is then killed
        assert len(claim_media(session, now=world.clock(), lease=timedelta(minutes=5), limit=10)) == 1
    assert world.fetcher.fetch_due() == 0  # leased: not taken twice
    world.clock.now += timedelta(minutes=6)
    assert world.fetcher.fetch_due() == 1
    assert media_rows(world.engine)["MEone"][1].data == b"png"
