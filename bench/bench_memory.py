"""Memory: resident set size of `ingest serve` idle and under load, against bare processes.

Run: .venv/bin/python bench/bench_memory.py [--webhooks 2000] [--emails 500] [--concurrency 16]

Read from /proc/PID/status: VmRSS (resident now) and VmHWM (the peak). Measured:

- baseline 1: `python -c "import fastapi, sqlalchemy, uvicorn"` (the libraries alone);
- baseline 2: the bare TwiML FastAPI app (bench/bare_twiml.py) under uvicorn, idle and after the
  same webhooks;
- the service (`ingest serve`, config.example.toml with its data in a temp dir, SQLite, Twilio
  webhooks and the SMTP listener on, outgoing mail written to its folder): idle 5 s after start,
  and after the load (the webhooks, C at a time, and the e-mails over SMTP from 4 threads at the
  same time) once the pipeline has processed every receipt.

Printed: MiB and the ratios to both baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    ROOT,
    exit_cleanly_on_sigterm,
    free_port,
    machine,
    mixed_message,
    rss_kib,
    service_config,
    start_service,
    stop,
    twilio_env,
    wait_up,
)
from tests.twilio_helpers import INBOUND, inbound_fields, signed_post  # noqa: E402


def mib(kib: int) -> float:
    return kib / 1024


async def webhooks(base: str, count: int, concurrency: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def one(i: int) -> None:
            fields = inbound_fields(
                sid=f"SM{secrets.token_hex(16)}",
                sender=f"+3712{i:07d}",
                body=f"Lūdzu izvest atkritumus, Brīvības iela {i}.",
            )
            async with limit:
                r = await client.post(INBOUND, **signed_post(INBOUND, fields))  # type: ignore[arg-type]
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        await asyncio.gather(*(one(i) for i in range(count)))
    return statuses


def emails(port: int, count: int, threads: int = 4) -> None:
    def worker(start: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            for n in range(start, count, threads):
                smtp.sendmail(
                    f"client{n}@client.example", ["klienti@example.lv"], mixed_message(n).replace(b"\n", b"\r\n")
                )

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def pending(base: str) -> int:
    text = httpx.get(base + "/metrics", timeout=30).text
    return sum(int(float(v)) for v in re.findall(r'^gk_receipts\{[^}]*status="pending"[^}]*\} (\S+)', text, re.M))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--emails", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    print(f"machine: {machine()}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    # Baseline 1: the libraries alone.
    bare = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fastapi, sqlalchemy, uvicorn, sys, time; print('ready', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    assert bare.stdout is not None and bare.stdout.readline().strip() == b"ready"
    time.sleep(1)
    libs, _ = rss_kib(bare.pid)
    bare.kill()
    bare.wait()

    # Baseline 2: the bare TwiML app under uvicorn.
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_twiml:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_up(f"http://127.0.0.1:{port}/docs")
        time.sleep(2)
        app_idle, _ = rss_kib(app.pid)
        asyncio.run(webhooks(f"http://127.0.0.1:{port}", args.webhooks, args.concurrency))
        time.sleep(1)
        app_loaded, app_peak = rss_kib(app.pid)
    finally:
        stop(app)

    # The service.
    with tempfile.TemporaryDirectory(prefix="gk-bench-memory-") as tmp:
        http_port, smtp_port = free_port(), free_port()
        config = service_config(Path(tmp), http_port=http_port, smtp_port=smtp_port)
        service = start_service(config, twilio_env())
        base = f"http://127.0.0.1:{http_port}"
        try:
            wait_up(base + "/health")
            time.sleep(5)
            svc_idle, _ = rss_kib(service.pid)
            t0 = time.perf_counter()
            mail = threading.Thread(target=emails, args=(smtp_port, args.emails))
            mail.start()
            statuses = asyncio.run(webhooks(base, args.webhooks, args.concurrency))
            mail.join()
            received_s = time.perf_counter() - t0
            peak_during = rss_kib(service.pid)[0]
            while pending(base) > 0:
                time.sleep(1)
            processed_s = time.perf_counter() - t0
            time.sleep(2)
            svc_loaded, svc_peak = rss_kib(service.pid)
        finally:
            stop(service)

    print(
        f"\nload: {args.webhooks} signed webhooks ({args.concurrency} at a time; statuses {statuses}) "
        f"+ {args.emails} e-mails over SMTP (4 connections), received in {received_s:.0f} s, "
        f"all processed after {processed_s:.0f} s"
    )
    print(f"{'process':<44} {'RSS MiB':>8} {'peak MiB':>9}")
    print(f"{'python + import fastapi, sqlalchemy, uvicorn':<44} {mib(libs):8.1f}")
    print(f"{'bare TwiML app (uvicorn), idle':<44} {mib(app_idle):8.1f}")
    print(f"{'bare TwiML app, after the webhooks':<44} {mib(app_loaded):8.1f} {mib(app_peak):9.1f}")
    print(f"{'ingest serve, idle after start':<44} {mib(svc_idle):8.1f}")
    print(f"{'ingest serve, right after the load':<44} {mib(peak_during):8.1f}")
    print(f"{'ingest serve, load processed':<44} {mib(svc_loaded):8.1f} {mib(svc_peak):9.1f}")
    print("ratios:")
    print(f"  service idle / libraries alone:            {svc_idle / libs:5.2f}")
    print(f"  service idle / bare app idle:              {svc_idle / app_idle:5.2f}")
    print(f"  service peak under load / bare app peak:   {svc_peak / app_peak:5.2f}")
    print(f"  service after load / service idle:         {svc_loaded / svc_idle:5.2f}")


if __name__ == "__main__":
    main()
