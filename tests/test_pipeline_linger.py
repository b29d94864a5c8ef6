"""Under a stream of arrivals the pipeline waits briefly for a fuller batch; after a quiet spell it
takes a lone message at once."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

from channels.email import EmailChannel
from ingest.intake.receipts import IncomingReceipt
from tests.pipeline_office import pipeline_office
from tests.smtp_helpers import client_mail


def test_a_small_batch_right_after_another_waits_for_more(make_settings: Any) -> None:
    with pipeline_office(make_settings()) as office:
        pipeline, channel = replace(office.pipeline, linger_seconds=3.0), EmailChannel()

        def arrive(n: int) -> None:
            raw = client_mail(f"Konteiners {n}", "Lūdzu izvest atkritumus.", sender=f"k{n}@example.net").as_bytes()
            office.store.store_many_sync([IncomingReceipt(channel, "smtp", raw, {})])

        arrive(1)
        started = time.monotonic()
        assert pipeline.process_due() == 1  # the first after a quiet spell: taken at once
        assert time.monotonic() - started < 3.0
        arrive(2)
        # A third message comes while the second would make a batch of one: they go together.
        later = threading.Timer(0.3, arrive, args=(3,))
        later.start()
        assert pipeline.process_due() == 2
        later.join()
        assert pipeline.process_due() == 0
