"""How fast ``ingest import-calls`` takes an Asterisk Master.csv.

Run: .venv/bin/python -m bench.import_calls [--rows N] [--database-url URL] [--missed-share S]
[--recent-share R] [--window W] (default: 20,000 rows, 25 % missed, 5 % internal, 2 % within the
last hour and the rest weeks old, the default call-back window of one working day, SQLite in a temp
dir). Prints the command's report, with storing and processing separately (the old missed calls are
stored as late and open nothing; the recent ones are routed), and a baseline: csv.reader alone.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent


def master_csv(path: Path, rows: int, missed_share: float, recent_share: float = 0.0) -> None:
    """Calls 7 seconds apart from four weeks ago, the last ``recent_share`` of them in the last hour."""
    rng = random.Random(7)
    now = datetime.now(ZoneInfo("Europe/Riga")).replace(tzinfo=None, microsecond=0)
    recent = int(rows * recent_share)
    out = []
    for i in range(rows):
        old = i < rows - recent
        when = now - timedelta(days=28) + timedelta(seconds=i * 7) if old else now - timedelta(seconds=(rows - i) * 3)
        r = rng.random()
        internal = r < 0.05
        missed = not internal and r < 0.05 + missed_share
        src = str(100 + i % 50) if internal else f"2{rng.randrange(10_000_000):07d}"
        disposition = rng.choice(["NO ANSWER", "BUSY"]) if missed else "ANSWERED"
        answer = "" if missed else (when + timedelta(seconds=4)).strftime("%Y-%m-%d %H:%M:%S")
        end = (when + timedelta(seconds=30 if missed else 200)).strftime("%Y-%m-%d %H:%M:%S")
        out.append(
            f'"","{src}","100","from-pstn","""{src}"" <{src}>","PJSIP/trunk-{i:08x}","PJSIP/100-{i:08x}","Dial",'
            f'"PJSIP/100,30,tT","{when:%Y-%m-%d %H:%M:%S}","{answer}","{end}",{30 if missed else 200},'
            f'{0 if missed else 196},"{disposition}","DOCUMENTATION","{1764000000 + i}.{i}",""\n'
        )
    path.write_text("".join(out), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--missed-share", type=float, default=0.25)
    parser.add_argument("--recent-share", type=float, default=0.02)
    parser.add_argument("--window", default="", help='[calls] callback_window, e.g. "off" (default: the config\'s)')
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    data = folder / "Master.csv"
    master_csv(data, args.rows, args.missed_share, args.recent_share)
    config = folder / "config.toml"
    config.write_text(
        (ROOT / "config.example.toml")
        .read_text(encoding="utf-8")
        .replace('data_dir = "var"', f'data_dir = "{folder / "var"}"'),
        encoding="utf-8",
    )
    started = time.perf_counter()
    with data.open(newline="") as f:
        n = sum(1 for _ in csv.reader(f, strict=True))
    baseline = time.perf_counter() - started
    print(f"baseline: csv.reader alone, {n} rows in {baseline:.3f} s ({n / baseline:,.0f} rows/s)")
    env = {**os.environ, "INGEST__SERVICE__LOG_LEVEL": "WARNING"}
    if args.database_url:
        env["INGEST__DATABASE__URL"] = args.database_url
    if args.window:
        env["INGEST__CALLS__CALLBACK_WINDOW"] = args.window
    for label in ("first import", "again (all duplicates)"):
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "ingest.cli", "import-calls", str(data), "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        wall = time.perf_counter() - started
        print(f"--- {label}: exit {run.returncode}, {wall:.2f} s wall ({args.rows / wall:,.0f} rows/s end to end)")
        print(run.stdout.strip())


if __name__ == "__main__":
    main()
