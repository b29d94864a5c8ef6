"""End-to-end latency: a message going in to the staff notification accepted by the relay.

Run: .venv/bin/python bench/bench_latency.py [--messages 50]

The real service runs as `ingest serve` (config.example.toml with its data in a temp dir, SQLite;
outgoing mail to an aiosmtpd relay started in this process; IMAP IDLE against a throwaway
Dovecot; Twilio webhooks on). For each path, N messages are sent one at a time, each waited for,
with random gaps of 50-300 ms between them:

- SMTP in: an e-mail (about 4 KB) to the service's SMTP listener;
- IMAP: an APPEND to the mailbox the service watches with IDLE;
- Twilio: a signed SMS webhook.

Latency is from just before the message is sent to the moment the relay has the staff
notification carrying the message's token. The baseline is the round trip of a bare SMTP send
(connect, one 4 KB message) to the same relay, measured the same way: the ratio says how much the
service adds. For the IMAP path a second baseline: a bare imapclient in IDLE on a mailbox of its
own, from APPEND to the EXISTS it is told of (Dovecot delays that notification on its own).
Printed: p50 and p99 in seconds per path, and ratios of p50 and p99 to the baseline's. Two
warm-up messages per path are sent first and not counted.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import random
import re
import secrets
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    exit_cleanly_on_sigterm,
    free_port,
    machine,
    mixed_message,
    service_config,
    start_service,
    stop,
    twilio_env,
    wait_up,
)
from tests.dovecot import Dovecot  # noqa: E402
from tests.twilio_helpers import INBOUND, inbound_fields, signed_post  # noqa: E402

TOKEN_RE = re.compile(r"bench-[0-9a-f]{12}")


class Relay:
    """The company's relay: records when each message carrying a token arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.staff: dict[str, float] = {}
        self.count = 0
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        at = time.perf_counter()
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = str(msg["Subject"] or "")
        body = msg.get_body(("plain",))
        if body is not None:
            text += "\n" + body.get_content()
        to_staff = all(r.lower().endswith("@example.lv") for r in envelope.rcpt_tos)
        with self.changed:
            self.count += 1
            for token in TOKEN_RE.findall(text):
                self.arrived.setdefault(token, at)
                if to_staff:
                    self.staff.setdefault(token, at)
            self.changed.notify_all()
        return "250 OK"

    def wait(self, token: str, *, staff: bool, timeout: float = 60) -> float:
        seen = self.staff if staff else self.arrived
        deadline = time.monotonic() + timeout
        with self.changed:
            while token not in seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no message with {token} at the relay")
                self.changed.wait(left)
            return seen[token]


def quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return q[49], q[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    total = args.messages
    rng = random.Random(7)
    print(f"machine: {machine()}")

    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    dovecot = Dovecot()
    dovecot.start(pool=2)
    process = None
    try:
        user = dovecot.new_user()
        idle_user = dovecot.new_user()  # a mailbox of its own for the bare IDLE baseline
        with tempfile.TemporaryDirectory(prefix="gk-bench-latency-") as tmp:
            http_port, smtp_port = free_port(), free_port()
            config = service_config(Path(tmp), http_port=http_port, smtp_port=smtp_port, log_level="ERROR")
            env = {
                **twilio_env(),
                "INGEST__OUTGOING_MAIL__RELAY_HOST": "127.0.0.1",
                "INGEST__OUTGOING_MAIL__RELAY_PORT": str(controller.port),
                "INGEST__OUTGOING_MAIL__SECURITY": "none",
                **{
                    f"INGEST__IMAP__{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in user.settings().items()
                },
            }
            process = start_service(config, env)
            wait_up(f"http://127.0.0.1:{http_port}/health")
            # The poller connects in the background: wait until it says it runs.
            deadline = time.monotonic() + 30
            while (
                "running" not in httpx.get(f"http://127.0.0.1:{http_port}/health").text and time.monotonic() < deadline
            ):
                time.sleep(0.2)

            counter = iter(range(10**6))

            def send_smtp(token: str) -> None:
                raw = mixed_message(next(counter), token=token).replace(b"\n", b"\r\n")
                with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
                    smtp.sendmail("sender@client.example", ["klienti@example.lv"], raw)

            imap = user.client(folder=None)

            def send_imap(token: str) -> None:
                imap.append("INBOX", mixed_message(100_000 + next(counter), token=token))

            http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30)

            def send_twilio(token: str) -> None:
                n = next(counter)
                fields = inbound_fields(
                    sid=f"SM{secrets.token_hex(16)}",
                    sender=f"+3712{n:07d}",
                    body=f"Lūdzu izvest atkritumus no Brīvības ielas {n}. {token}",
                )
                response = http.post(INBOUND, **signed_post(INBOUND, fields))  # type: ignore[arg-type]
                response.raise_for_status()

            def send_bare(token: str) -> None:
                raw = mixed_message(200_000 + next(counter), token=token).replace(b"\n", b"\r\n")
                with smtplib.SMTP("127.0.0.1", controller.port) as smtp:
                    smtp.sendmail("sender@client.example", ["someone@elsewhere.example"], raw)

            # Baseline 2: what Dovecot itself takes from an APPEND to the EXISTS an IDLE client sees.
            watcher, appender = idle_user.client(), idle_user.client(folder=None)
            idle_base = []
            for i in range(total + 2):
                watcher.idle()
                start = time.perf_counter()
                appender.append("INBOX", mixed_message(300_000 + i))
                while not any(
                    isinstance(r, tuple) and len(r) > 1 and r[1] == b"EXISTS" for r in watcher.idle_check(timeout=10)
                ):
                    pass
                if i >= 2:
                    idle_base.append(time.perf_counter() - start)
                watcher.idle_done()
                time.sleep(rng.uniform(0.05, 0.3))
            watcher.logout()
            appender.logout()
            p50, p99 = quantiles(idle_base)
            print(
                f"  {'bare IDLE: APPEND to EXISTS (Dovecot)':<36} p50 {p50:7.3f} s   p99 {p99:7.3f} s   "
                f"max {max(idle_base):7.3f} s",
                flush=True,
            )

            paths = [
                ("bare SMTP to the relay (baseline)", send_bare, False),
                ("SMTP in", send_smtp, True),
                ("IMAP APPEND -> IDLE", send_imap, True),
                ("Twilio webhook (SMS)", send_twilio, True),
            ]
            results: dict[str, list[float]] = {}
            for name, send, staff in paths:
                latencies = []
                for i in range(total + 2):
                    token = f"bench-{secrets.token_hex(6)}"
                    start = time.perf_counter()
                    send(token)
                    arrived = relay.wait(token, staff=staff)
                    if i >= 2:
                        latencies.append(arrived - start)
                    time.sleep(rng.uniform(0.05, 0.3))
                results[name] = latencies
                p50, p99 = quantiles(latencies)
                print(f"  {name:<36} p50 {p50:7.3f} s   p99 {p99:7.3f} s   max {max(latencies):7.3f} s", flush=True)
            imap.logout()
            http.close()

            base50, base99 = quantiles(results[paths[0][0]])
            print(f"\n{total} messages per path, one at a time; relay got {relay.count} messages in all")
            print(f"{'path':<38} {'p50 s':>7} {'p99 s':>7} {'p50/base':>9} {'p99/base':>9}")
            for name, _, _ in paths:
                p50, p99 = quantiles(results[name])
                print(f"{name:<38} {p50:7.3f} {p99:7.3f} {p50 / base50:8.1f}x {p99 / base99:8.1f}x")
            i50, i99 = quantiles(idle_base)
            p50, p99 = quantiles(results["IMAP APPEND -> IDLE"])
            print(
                f"{'bare IDLE: APPEND to EXISTS (Dovecot)':<38} {i50:7.3f} {i99:7.3f} "
                f"{i50 / base50:8.1f}x {i99 / base99:8.1f}x"
            )
            print(
                f"IMAP path minus the bare IDLE notification: p50 {p50 - i50:.3f} s, p99 {p99 - i99:.3f} s "
                f"(ratio IMAP/bare IDLE: p50 {p50 / i50:.2f}, p99 {p99 / i99:.2f})"
            )
    finally:
        if process is not None:
            stop(process)
        dovecot.cleanup()
        controller.stop()


if __name__ == "__main__":
    main()
