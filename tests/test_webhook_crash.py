"""kill -9 during a webhook flood: no message answered 200 is lost, and Twilio's retries double nothing.

The service runs as a real `ingest serve` process; a client in another process floods it with
signed webhooks and records which MessageSids were answered 200. The service is killed with
SIGKILL in the middle. Every acknowledged message must then already be in the database (the
200 comes only after the commit). The service is started again and everything is sent once more,
as Twilio does for requests that got no answer (and sometimes for ones that did): each message
ends up stored and processed exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import Session

from storage.models import Message, Receipt
from tests.support import ROOT, free_port, wait_until
from tests.twilio_helpers import ACCOUNT, PUBLIC, TOKEN, inbound_fields

FLOOD = {"sqlite": 2000, "postgresql": 1000}


def start_service(config: Path, port: int, log: Path, database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "INGEST__DATABASE__URL": database_url,
        "INGEST__TWILIO__ENABLED": "true",
        "INGEST__TWILIO__ACCOUNT_SID": ACCOUNT,
        "INGEST__TWILIO__AUTH_TOKEN": TOKEN,
        "INGEST__TWILIO__PUBLIC_BASE_URL": PUBLIC,
        "INGEST__TWILIO__SMS_FROM": "+37167000001",
        "INGEST__TWILIO__API_BASE_URL": "http://127.0.0.1:9",  # replies fail locally; never a real host
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "serve", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code in (200, 503):
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the service did not start: {log.read_text(errors='replace')[-3000:]}")


def _flood_watched(base: str, batch: Path, service: subprocess.Popen[bytes], tmp_path: Path) -> dict[str, Any]:
    """The flood client's result; when it sees a request unanswered for long, the service is asked
    (SIGUSR1, ``ingest serve``'s faulthandler) to write where its threads are into its log."""
    marker, output = tmp_path / "stalled", tmp_path / "flood-result.json"
    with output.open("w", encoding="utf-8") as out:  # a file: a pipe left unread would block the client
        client = subprocess.Popen(
            [sys.executable, "-m", "tests.twilio_flood_client", base, str(batch), "20", str(marker)],
            cwd=ROOT,
            stdout=out,
        )
        while client.poll() is None:
            if marker.exists() and service.poll() is None:
                service.send_signal(signal.SIGUSR1)
                marker.unlink()
            time.sleep(0.5)
        assert client.wait(timeout=600) == 0
    result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8").strip().splitlines()[-1])
    return result


def _stalls(log: Path) -> list[str]:
    """What the service logged about waits on its write gate (storage/db.py FairLock) and the
    threads it dumped when a request stalled."""
    lines = log.read_text(errors="replace").splitlines()
    dumped = next((n for n, line in enumerate(lines) if line.startswith("Thread 0x")), len(lines))
    return [line for line in lines if "write gate" in line][-20:] + lines[dumped : dumped + 400]


def count(url: str, *conditions: Any, of: Any = Receipt) -> int:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return int(session.execute(select(func.count()).select_from(of).where(*conditions)).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.slow  # a flood, kill -9, the flood again
def test_kill_9_during_a_webhook_flood_loses_no_acknowledged_message(database_url: str, tmp_path: Path) -> None:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    total = FLOOD[backend]
    requests = [
        inbound_fields(f"SM{n:032x}", sender=f"+3712{n % 300:07d}", body=f"Ziņa {n}: bedre uz ceļa")
        for n in range(total)
    ]
    batch = tmp_path / "flood.json"
    batch.write_text(json.dumps(requests), encoding="utf-8")
    port = free_port()
    config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    config = config.replace('data_dir = "var"', f'data_dir = "{tmp_path}/var"').replace("port = 8080", f"port = {port}")
    config = config.replace("port = 2525", "port = 0")
    config_path = tmp_path / "config.toml"
    config_path.write_text(config, encoding="utf-8")
    log = tmp_path / "service.log"
    running: list[subprocess.Popen[Any]] = []
    try:
        service = start_service(config_path, port, log, database_url)
        running.append(service)
        client = subprocess.Popen(
            [sys.executable, "-m", "tests.twilio_flood_client", f"http://127.0.0.1:{port}", str(batch), "20"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        running.append(client)
        # Kill the service once about a third of the flood is in.
        wait_until(lambda: count(database_url) >= total // 3, timeout=300, interval=0.05, what="a third of the flood")
        service.send_signal(signal.SIGKILL)
        service.wait(30)
        out, _ = client.communicate(timeout=300)
        first = json.loads(out.strip().splitlines()[-1])
        acked = set(first["acked"])
        stored_after_kill = count(database_url)
        lost = [sid for sid in acked if count(database_url, Receipt.natural_id == f"sid:{sid}") != 1]
        print(
            f"\n[{backend}] killed after {stored_after_kill} of {total} stored; client saw {first['statuses']};"
            f" acknowledged {len(acked)}, of which lost: {len(lost)}"
        )
        assert lost == []
        assert 0 < len(acked) < total and first["statuses"].get("error", 0) > 0  # the kill hit mid-flood
        # Nothing is answered 200 before its commit, so the store holds at least what was acknowledged.
        assert stored_after_kill >= len(acked)

        # Twilio retries: everything again (also what was acknowledged), to the restarted service.
        service = start_service(config_path, port, log, database_url)
        running.append(service)
        second = _flood_watched(f"http://127.0.0.1:{port}", batch, service, tmp_path)
        assert second["statuses"] == {"200": total}, (second["errors"], second["answered_in"], _stalls(log))
        assert count(database_url) == total
        wait_until(lambda: count(database_url, of=Message) >= total, timeout=600, interval=1, what="all processed")
        assert count(database_url, of=Message) == total
        assert count(database_url, Receipt.status != "processed") == 0
        print(f"[{backend}] after the restart and the retries: {total} receipts, {total} messages, none doubled")
        service.send_signal(signal.SIGTERM)
        assert service.wait(60) == 0
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
