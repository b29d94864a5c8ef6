"""Routing, due dates and the deadline sweep: how much they cost, against baselines in the same run.

Run: .venv/bin/python bench/bench_router.py [--inquiries 100000]

Figures are printed as ratios against a baseline measured in the same run (this machine is shared
and noisy; absolute times are for scale only):
- building the router and what it holds, each in a fresh process: the router as it was before the
  keyword lexicon (router/understand.py at LEGACY_REVISION, read from git: simplemma's lv, ru and en
  dictionaries decoded in full) against the lexicon built (first start: no file in the data folder)
  and the lexicon read back (every later start); CPU seconds, VmRSS, and one message understood;
- routing one inquiry (lemmatised keyword matching, language, kind, complexity, rules) against a
  naive substring search for the same keywords;
- computing a due date on the Latvian calendar against adding days with datetime arithmetic;
- the deadline sweep over N open inquiries against the same sweep over 1,000: cost must stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import mixed_message  # noqa: E402
from ingest.config import load_config, parse_config  # noqa: E402
from ingest.routing import router_from_settings  # noqa: E402
from router.route import Situation  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The last commit whose router decoded simplemma's dictionaries at every start (issue 16).
LEGACY_REVISION = "9215a2fe3f006e63c860e613eec4b0b74b46573f"

TEXTS = [
    (
        "Neizvesti atkritumi",
        "Labdien! Jau otro nedēļu netiek izvesti atkritumi no Brīvības ielas 12. Lūdzu, pārbaudiet.",
    ),
    ("Нет горячей воды", "Здравствуйте, в квартире нет горячей воды с понедельника. Когда починят?"),
    ("Snow", "Hello, the pavement in front of our building has not been cleared of snow for three days."),
    ("Sūdzība", "Vēlos iesniegt sūdzību par darbinieku, kurš bija rupjš pa telefonu."),
    ("Rēķins", "Lūdzu, paskaidrojiet, kāpēc rēķinā par oktobri ir tik liela summa?"),
    ("Lifts", "Mājā nestrādā lifts jau nedēļu, vecāki cilvēki nevar nokļūt dzīvokļos."),
    ("Sveiki", "Kāds ir jūsu darba laiks?"),
    ("Ierosinājums", "Ierosinu uzstādīt papildu konteinerus šķirotajiem atkritumiem pie veikala."),
]


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median seconds per call over 5 rounds of ``repeat`` calls."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        rounds.append((time.perf_counter() - start) / repeat)
    return statistics.median(rounds)


def bench_routing() -> None:
    settings = load_config(ROOT / "config.example.toml", env={})
    router = router_from_settings(settings, cached=False)
    at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    situation = Situation()
    keywords = [(t.key, [k.lower() for k in t.keywords]) for t in settings.topics]

    def route_all() -> None:
        for subject, text in TEXTS:
            router.decide(subject=subject, text=text, received_at=at, situation=situation)

    def naive_all() -> None:
        for subject, text in TEXTS:
            body = f"{subject}\n{text}".lower()
            next((key for key, kws in keywords if any(k in body for k in kws)), None)

    route_all()  # warm the lemma caches, as a running service would be
    routed = timed(route_all, 50) / len(TEXTS)
    naive = timed(naive_all, 2000) / len(TEXTS)
    print(
        f"routing one inquiry: {routed * 1e6:8.1f} µs; naive substring search {naive * 1e6:6.1f} µs; "
        f"ratio {routed / naive:6.1f}x"
    )

    calendar = router.calendar
    moments = [at + timedelta(hours=7 * i) for i in range(200)]

    def due_all() -> None:
        for m in moments:
            calendar.due_at(m, 2)

    def plain_all() -> None:
        for m in moments:
            m + timedelta(days=2)

    due = timed(due_all, 20) / len(moments)
    plain = timed(plain_all, 2000) / len(moments)
    print(
        f"due date:            {due * 1e6:8.1f} µs; datetime + timedelta      {plain * 1e6:6.2f} µs; "
        f"ratio {due / plain:6.1f}x"
    )


def bench_sweep(total: int) -> None:
    from sqlalchemy import insert
    from sqlmodel import Session, select

    from ingest.assembly import notices_from_settings, sync_employees
    from ingest.inquiries.scheduled import DeadlineKeeper
    from storage.db import make_engine, migrate, session_factory
    from storage.models import Contact, DeadlineAlarm, Employee, Inquiry

    def sweep_cost(n: int) -> tuple[float, float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            doc = {"database": {"url": f"sqlite:///{tmp}/bench.sqlite3"}}
            base = load_config(ROOT / "config.example.toml", env={})
            settings = parse_config({**base.model_dump(mode="json"), **doc}, base_dir=Path(tmp), env={})
            engine = make_engine(settings.database_url())
            migrate(engine)
            sessions = session_factory(engine)
            sync_employees(sessions, settings)
            now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
            with Session(engine) as session:
                emp_ids = [e.id for e in session.exec(select(Employee)).all()]
                session.execute(
                    insert(Contact),
                    [{"kind": "person", "email": f"c{i}@x.example", "created_at": now} for i in range(n)],
                )
                session.execute(
                    insert(Inquiry),
                    [
                        {
                            "reference": f"GK-2026-{i:06d}",
                            "token": f"t{i}",
                            "contact_id": i + 1,
                            "channel": "email",
                            "kind": "request",
                            "complexity": "simple",
                            "status": "open",
                            "employee_id": emp_ids[i % len(emp_ids)],
                            "received_at": now,
                            "due_at": now + timedelta(days=2 + i % 5),
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(n)
                    ],
                )
                # Four alarms per inquiry, all in the future except 100 that are due now.
                rows = []
                for i in range(n):
                    for k, kind in enumerate(("due_day", "share_left", "overdue", "overdue_board")):
                        fire = (
                            now - timedelta(minutes=1)
                            if (i < 100 and k == 0)
                            else now + timedelta(days=1 + i % 5, hours=k)
                        )
                        rows.append({"inquiry_id": i + 1, "kind": kind, "fire_at": fire})
                session.execute(insert(DeadlineAlarm), rows)
                session.commit()
            keeper = DeadlineKeeper(
                sessions=sessions,
                notices=notices_from_settings(settings),
                calendar=router_from_settings(settings).calendar,
                clock=lambda: now,
                fallback_employee="koordinatore",
                board_member="valde",
            )
            start = time.perf_counter()
            fired = keeper._fire_due_alarms()
            fire_time = time.perf_counter() - start
            # Nothing is due any more: what a sweep costs every minute.
            idle = timed(keeper._fire_due_alarms, 20)
            engine.dispose()
            return idle, fire_time / max(fired, 1), fired

    base_idle, base_fire, _ = sweep_cost(1000)
    idle, fire, fired = sweep_cost(total)
    print(
        f"deadline sweep, nothing due: {total:,} open inquiries {idle * 1e3:.2f} ms "
        f"vs 1,000: {base_idle * 1e3:.2f} ms; ratio {idle / base_idle:.2f}"
    )
    print(
        f"firing an alarm (reminder queued): {fire * 1e3:.2f} ms each with {total:,} open "
        f"vs {base_fire * 1e3:.2f} ms with 1,000; ratio {fire / base_fire:.2f} ({fired} fired)"
    )


def _vm_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_with_children() -> float:
    # The lexicon is built in a child process: its CPU counts as the build's.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _legacy_understander_class() -> type:
    """The Understander of LEGACY_REVISION, loaded from git as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{LEGACY_REVISION}:router/understand.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("legacy_understand")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, "legacy_understand.py", "exec"), module.__dict__)
    return module.Understander  # type: ignore[no-any-return]


def build_child(mode: str, folder: str) -> None:
    """In a fresh process: build the router's understanding the ``mode`` way, print the figures as JSON."""
    settings = load_config(ROOT / "config.example.toml", env={})
    kinds = settings.kinds.model_dump()
    rss_before = _vm_rss_mib()
    start, wall = _cpu_with_children(), time.perf_counter()
    if mode == "legacy":
        understander_class = _legacy_understander_class()
        topic_class = sys.modules["legacy_understand"].Topic
        topics = [
            topic_class(t.key, t.name, tuple(t.keywords), tuple(t.employees), t.complexity) for t in settings.topics
        ]
        understander = understander_class(topics=topics, kinds=kinds)
    else:
        from router.understand import Topic, Understander

        topics = [
            Topic(t.key, t.name, tuple(t.keywords), tuple(t.employees), t.complexity, t.role) for t in settings.topics
        ]
        understander = Understander(topics=topics, kinds=kinds, lexicon_dir=Path(folder))
    first = time.perf_counter()
    understander.understand(subject=TEXTS[0][0], text=TEXTS[0][1])
    figures = {
        "build_cpu": _cpu_with_children() - start,
        "build_wall": first - wall,
        "first_message": time.perf_counter() - first,
        "rss_router": _vm_rss_mib() - rss_before,
    }

    def all_texts() -> None:
        for subject, text in TEXTS:
            understander.understand(subject=subject, text=text)

    figures["per_message"] = timed(all_texts, 20) / len(TEXTS)
    figures["rss"] = _vm_rss_mib()
    print(json.dumps(figures))


def _run_child(mode: str, folder: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--folder", folder],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_build() -> None:
    with tempfile.TemporaryDirectory() as folder:
        before = _run_child("legacy", folder)
        cold = _run_child("lexicon", folder)  # no file yet: builds it and writes it
        warm = _run_child("lexicon", folder)  # every later start: reads it
        size = sum(f.stat().st_size for f in Path(folder).iterdir())
    print(f"router build, each in a fresh process (lexicon file {size / 1024:.0f} KiB):")
    print(f"  {'':34} {'before':>10} {'lexicon built':>14} {'lexicon read':>13} {'before/read':>12}")
    rows = [
        ("build CPU (s)", "build_cpu", 1.0, "{:.2f}"),
        ("build wall (s)", "build_wall", 1.0, "{:.2f}"),
        ("router's memory, VmRSS growth (MiB)", "rss_router", 1.0, "{:.0f}"),
        ("process VmRSS after routing (MiB)", "rss", 1.0, "{:.0f}"),
        ("first message (ms)", "first_message", 1e3, "{:.2f}"),
        ("one message understood (ms)", "per_message", 1e3, "{:.3f}"),
    ]
    for label, key, scale, shape in rows:
        values = [shape.format(run[key] * scale) for run in (before, cold, warm)]
        ratio = before[key] / warm[key] if warm[key] > 0 else float("inf")
        print(f"  {label:34} {values[0]:>10} {values[1]:>14} {values[2]:>13} {ratio:>11.1f}x")


def _child_cpu(command: list[str]) -> float:
    """CPU seconds (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def bench_inspect_cpu(runs: int = 5) -> None:
    """``ingest inspect-email`` (a command's whole start: configuration, router, parse, routing)
    against a bare ``python -c "import fastapi, sqlalchemy"``, the best of ``runs`` each (issue 16's
    goal: at most 3 times)."""
    with tempfile.TemporaryDirectory() as folder:
        eml = Path(folder) / "letter.eml"
        eml.write_bytes(mixed_message(3))
        inspect = [sys.executable, "-m", "ingest.cli", "inspect-email", str(eml), "--config", "config.example.toml"]
        bare = [sys.executable, "-c", "import fastapi, sqlalchemy"]
        ours = min(_child_cpu(inspect) for _ in range(runs))
        base = min(_child_cpu(bare) for _ in range(runs))
    print(f"ingest inspect-email CPU {ours:.2f} s, bare import of fastapi+sqlalchemy {base:.2f} s: "
          f"ratio {ours / base:.1f} (goal 3 or less)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inquiries", type=int, default=100_000)
    parser.add_argument("--child", choices=["legacy", "lexicon"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--build-only", action="store_true", help="only the router build, before and after")
    args = parser.parse_args()
    if args.child:
        build_child(args.child, args.folder)
        return
    bench_build()
    bench_inspect_cpu()
    if args.build_only:
        return
    bench_routing()
    bench_sweep(args.inquiries)


if __name__ == "__main__":
    main()
