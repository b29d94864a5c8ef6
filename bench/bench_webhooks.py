"""Signed Twilio webhook ingestion against a bare FastAPI endpoint, in the same run.

Run: .venv/bin/python bench/bench_webhooks.py [--requests 3000] [--concurrency 32]

Both servers run as `uvicorn` with the same settings (one worker, its default loop and HTTP
implementation) in processes of their own; the load comes from this process over loopback. The
service does its real work: signature check, durable commit of the receipt before the 200 (SQLite,
WAL, synchronous=FULL), and its pipeline routing every message in the background. Printed:
requests/s, p50 and p99 latency for each, and the ratio service/bare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.twilio_helpers import ACCOUNT, INBOUND, PUBLIC, TOKEN, inbound_fields, signed_post  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def load(base: str, bodies: list[dict[str, object]], concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(kwargs: dict[str, object]) -> None:
            async with limit:
                start = time.perf_counter()
                response = await client.post(INBOUND, **kwargs)  # type: ignore[arg-type]
                latencies.append(time.perf_counter() - start)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return time.perf_counter() - started, latencies, statuses


def report(name: str, seconds: float, latencies: list[float], statuses: dict[int, int]) -> float:
    rps = len(latencies) / seconds
    q = statistics.quantiles(latencies, n=100)
    print(f"{name:>8}: {rps:8.0f} requests/s   p50 {q[49] * 1e3:7.1f} ms   p99 {q[98] * 1e3:7.1f} ms   statuses {statuses}")
    return rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    bodies = [
        signed_post(INBOUND, inbound_fields(sid=f"SM{i:032x}", sender=f"+3712{i % 900000:07d}", body=f"Atkritumi {i}"))
        for i in range(args.requests)
    ]
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    bare_port = free_port()
    bare = subprocess.Popen(
        [python, "-m", "uvicorn", "bench.bare_twiml:app", "--port", str(bare_port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    try:
        wait_up(f"http://127.0.0.1:{bare_port}/docs")
        bare_result = asyncio.run(load(f"http://127.0.0.1:{bare_port}", bodies, args.concurrency))
    finally:
        bare.terminate()
        bare.wait(30)

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
        config = config.replace('data_dir = "var"', f'data_dir = "{tmp}/var"').replace("port = 8080", f"port = {port}")
        config = config.replace("port = 2525", "port = 0").replace('log_level = "INFO"', 'log_level = "WARNING"')
        path = Path(tmp) / "config.toml"
        path.write_text(config, encoding="utf-8")
        twilio = {
            "ENABLED": "true", "ACCOUNT_SID": ACCOUNT, "AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC,
            "SMS_FROM": "+37167000001", "WHATSAPP_FROM": "+37167000000",
            "API_BASE_URL": "http://127.0.0.1:9",  # replies fail locally; never a real host
        }
        service_env = {**env, **{f"INGEST__TWILIO__{k}": v for k, v in twilio.items()}}
        service = subprocess.Popen([python, "-m", "ingest.cli", "serve", "--config", str(path)], cwd=ROOT, env=service_env)
        try:
            wait_up(f"http://127.0.0.1:{port}/health")
            service_result = asyncio.run(load(f"http://127.0.0.1:{port}", bodies, args.concurrency))
        finally:
            service.terminate()
            service.wait(60)

    print(f"{args.requests} signed webhooks, {args.concurrency} at a time, one uvicorn worker each, SQLite")
    base_rps = report("bare", *bare_result)
    svc_rps = report("service", *service_result)
    print(f"ratio service/bare: {svc_rps / base_rps:.3f}")


if __name__ == "__main__":
    main()
