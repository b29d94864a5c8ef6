"""Routing, due dates and the deadline sweep: how much they cost, against baselines in the same run.

Run: .venv/bin/python bench/bench_router.py [--inquiries 100000]

Figures are printed as ratios against a baseline measured in the same run (this machine is shared
and noisy; absolute times are for scale only):
- routing one inquiry (lemmatised keyword matching, language, kind, complexity, rules) against a
  naive substring search for the same keywords;
- computing a due date on the Latvian calendar against adding days with datetime arithmetic;
- the deadline sweep over N open inquiries against the same sweep over 1,000: cost must stay flat.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.config import load_config, parse_config  # noqa: E402
from ingest.routing import router_from_settings  # noqa: E402
from router.route import Situation  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

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
    router = router_from_settings(settings)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inquiries", type=int, default=100_000)
    args = parser.parse_args()
    bench_routing()
    bench_sweep(args.inquiries)


if __name__ == "__main__":
    main()
