"""Memory of the SMTP listener under large messages (issue 15, item 8).

Run: .venv/bin/python bench/bench_smtp_memory.py [--messages 4] [--mib 28] [--roles web]
     [--database-url postgresql+psycopg://root@127.0.0.1:5432/postgres]

`ingest serve` (config.example.toml, its data in a temp dir) is started; 5 s after it answers
/health its VmRSS is read (idle). Then ``--messages`` messages of ``--mib`` MiB each (a short text
and a base64 attachment in 76-character lines, as mail programs write them) are sent over SMTP at
the same time, one connection each; once every one is answered 250 the process's VmHWM (peak
resident) is read. Printed: idle, peak, and peak minus idle, which is what the messages cost.

``--roles web`` (the default) runs only the receivers, so the figure is the listener's and the
receipts' storing; ``--roles web,worker,scheduler`` also runs the pipeline, which reads and parses
every message after it is stored (its cost is added to the peak), and the peak is read again once
the pipeline has processed them all.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import smtplib
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    exit_cleanly_on_sigterm,
    free_port,
    machine,
    rss_kib,
    service_config,
    start_service,
    stop,
    throwaway_database,
    wait_up,
)


def large_message(n: int, mib: int) -> bytes:
    """A message of about ``mib`` MiB: a text part and a base64 attachment (CRLF line ends)."""
    payload = os.urandom(mib * 1024 * 1024 * 3 // 4)
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    head = (
        f"From: Klients {n} <client{n}@client.example>\r\nTo: klienti@example.lv\r\n"
        f"Subject: Foto {n}\r\nMessage-ID: <large-{n}-{time.time_ns()}@client.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
        "Labdien! Pielikumā fotogrāfijas par bedri Brīvības ielā.\r\n.\r\n..\r\n--b1\r\n"
        'Content-Type: image/jpeg; name="bedre.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    ).encode()
    return head + encoded + b"--b1--\r\n"


def send_all(port: int, messages: list[bytes]) -> list[object]:
    answers: list[object] = [None] * len(messages)
    start = threading.Barrier(len(messages))

    def one(i: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
                start.wait()
                answers[i] = smtp.sendmail(f"client{i}@client.example", ["klienti@example.lv"], messages[i])
        except Exception as exc:  # noqa: BLE001 - reported with the figures
            answers[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(messages))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument("--mib", type=int, default=28)
    parser.add_argument("--roles", default="web")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    print(f"machine: {machine()}")
    messages = [large_message(n, args.mib) for n in range(args.messages)]
    with (
        tempfile.TemporaryDirectory(prefix="gk-bench-smtp-") as tmp,
        throwaway_database(args.database_url, "smtp") as database_url,
    ):
        http_port, smtp_port = free_port(), free_port()
        config = service_config(Path(tmp), http_port=http_port, smtp_port=smtp_port)
        roles = json.dumps(args.roles.split(","))
        env = {"INGEST__DATABASE__URL": database_url, "INGEST__CLUSTER__ROLES": roles}
        service = start_service(config, env)
        try:
            wait_up(f"http://127.0.0.1:{http_port}/health")
            time.sleep(5)
            idle, idle_peak = rss_kib(service.pid)
            t0 = time.perf_counter()
            answers = send_all(smtp_port, messages)
            took = time.perf_counter() - t0
            after, peak = rss_kib(service.pid)
            processed = None
            if "worker" in args.roles:  # the pipeline reads and parses them too: its peak as well
                while pending(f"http://127.0.0.1:{http_port}") > 0:
                    time.sleep(1)
                processed = rss_kib(service.pid)
        finally:
            stop(service)
    mib = 1024
    sizes = sorted({len(m) // (1024 * 1024) for m in messages})
    print(f"database: {database_url.split(':')[0]}; roles: {args.roles}")
    print(f"{args.messages} messages of {sizes} MiB at once, answered in {took:.1f} s: {answers}")
    print(f"VmRSS idle {idle / mib:.0f} MiB (peak so far {idle_peak / mib:.0f}); after {after / mib:.0f} MiB")
    print(f"VmHWM after the messages {peak / mib:.0f} MiB: +{(peak - max(idle, idle_peak)) / mib:.0f} MiB over idle")
    if processed is not None:
        print(
            f"after the pipeline processed them: VmRSS {processed[0] / mib:.0f} MiB, VmHWM {processed[1] / mib:.0f} MiB"
            f" (+{(processed[1] - max(idle, idle_peak)) / mib:.0f} MiB over idle)"
        )


def pending(base: str) -> int:
    text = httpx.get(base + "/metrics", timeout=30).text
    return sum(int(float(v)) for v in re.findall(r'^gk_receipts\{[^}]*status="pending"[^}]*\} (\S+)', text, re.M))


if __name__ == "__main__":
    main()
