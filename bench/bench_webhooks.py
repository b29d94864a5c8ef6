"""Signed Twilio webhook ingestion against a bare FastAPI endpoint, in the same run.

Run: .venv/bin/python bench/bench_webhooks.py [--requests 3000] [--concurrency 32]

Both servers run as `uvicorn` with the same settings (one worker, its default loop and HTTP
implementation) in processes of their own; the load comes from this process over loopback. The
service does its real work: signature check, durable commit of the receipt before the 200 (SQLite,
WAL, synchronous=FULL; concurrent requests share a commit), and its pipeline routing every
message in the background. It is measured twice: as one `ingest serve` process doing everything,
and split in two on the same database file (`--roles web` answering webhooks, `--roles
worker,imap,scheduler` routing), where the routing no longer competes with the webhooks for one
interpreter. Printed: requests/s, p50 and p99 latency for each, and the ratios service/bare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import free_port, wait_up  # noqa: E402
from tests.twilio_helpers import ACCOUNT, INBOUND, PUBLIC, TOKEN, inbound_fields, signed_post  # noqa: E402


async def load(
    base: str, bodies: list[dict[str, object]], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
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
    print(
        f"{name:>22}: {rps:8.0f} requests/s   p50 {q[49] * 1e3:7.1f} ms   p99 {q[98] * 1e3:7.1f} ms   "
        f"statuses {statuses}"
    )
    return rps


def run_service(
    bodies: list[dict[str, object]], concurrency: int, *, split: bool
) -> tuple[float, list[float], dict[int, int]]:
    """Load the service (one process, or a web process plus a worker process) and return its figures."""
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
        config = config.replace('data_dir = "var"', f'data_dir = "{tmp}/var"').replace("port = 8080", f"port = {port}")
        config = config.replace("port = 2525", "port = 0").replace('log_level = "INFO"', 'log_level = "WARNING"')
        path = Path(tmp) / "config.toml"
        path.write_text(config, encoding="utf-8")
        twilio = {
            "ENABLED": "true",
            "ACCOUNT_SID": ACCOUNT,
            "AUTH_TOKEN": TOKEN,
            "PUBLIC_BASE_URL": PUBLIC,
            "SMS_FROM": "+37167000001",
            "WHATSAPP_FROM": "+37167000000",
            "API_BASE_URL": "http://127.0.0.1:9",  # replies fail locally; never a real host
        }
        env = {**os.environ, "PYTHONPATH": str(ROOT), **{f"INGEST__TWILIO__{k}": v for k, v in twilio.items()}}
        serve = [python, "-m", "ingest.cli", "serve", "--config", str(path)]
        processes = []
        try:
            if split:
                worker_port = free_port()
                processes.append(subprocess.Popen(serve + ["--roles", "web"], cwd=ROOT, env=env))
                processes.append(
                    subprocess.Popen(
                        serve + ["--roles", "worker,imap,scheduler"],
                        cwd=ROOT,
                        env={**env, "INGEST__HTTP__PORT": str(worker_port)},
                    )
                )
                wait_up(f"http://127.0.0.1:{worker_port}/health")
            else:
                processes.append(subprocess.Popen(serve, cwd=ROOT, env=env))
            wait_up(f"http://127.0.0.1:{port}/health")
            return asyncio.run(load(f"http://127.0.0.1:{port}", bodies, concurrency))
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(60)


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
        cwd=ROOT,
        env=env,
    )
    try:
        wait_up(f"http://127.0.0.1:{bare_port}/docs")
        bare_result = asyncio.run(load(f"http://127.0.0.1:{bare_port}", bodies, args.concurrency))
    finally:
        bare.terminate()
        bare.wait(30)

    single = run_service(bodies, args.concurrency, split=False)
    split = run_service(bodies, args.concurrency, split=True)

    print(f"{args.requests} signed webhooks, {args.concurrency} at a time, one uvicorn worker each, SQLite")
    base_rps = report("bare", *bare_result)
    one_rps = report("service, one process", *single)
    split_rps = report("service, web + worker", *split)
    print(f"ratio service/bare, one process:  {one_rps / base_rps:.3f}")
    print(f"ratio service/bare, web + worker: {split_rps / base_rps:.3f}")


if __name__ == "__main__":
    main()
