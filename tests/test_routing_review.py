"""Learning from corrections (issue 16, item 3): ``ingest routing-report`` lists the reassignments that
moved inquiries to another topic with the words that misled the router and keywords to consider;
``routing-export`` writes past inquiries with their final topic; ``routing-eval`` replays them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from ingest.config import load_config
from ingest.inquiries.reassign import reassign
from storage.actors import Actor
from storage.db import transaction
from storage.models import Inquiry
from tests.pipeline_office import pipeline_office
from tests.support import write_config

INGEST = [sys.executable, "-m", "ingest.cli"]
# Two waste-sounding letters that are really about an overpaid invoice; one plain waste letter.
LETTERS = (
    "Konteiners: pārmaksa par novembri, lūdzu atgriezt pārmaksu uz kontu.",
    "Par konteineru man radās pārmaksa, atgrieziet pārmaksu.",
    "Konteiners pie mājas nav iztukšots jau nedēļu.",
)


def mail(n: int, text: str) -> bytes:
    head = f"From: Klients {n} <k{n}@client.example>\r\nTo: klienti@example.lv\r\nSubject: Konteiners\r\n"
    return (f"{head}Message-ID: <r{n}@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{text}\r\n").encode()  # fmt: skip


def run(*args: str) -> str:
    done = subprocess.run([*INGEST, *args], capture_output=True, text=True, timeout=120, env={"LANGUAGE": "C",
                          "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_report_export_and_eval_of_the_office_corrections(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url)
    with pipeline_office(load_config(config)) as world:
        for n, text in enumerate(LETTERS):
            world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=mail(n, text), meta={})
        world.pipeline.process_due()
        with transaction(world.sessions) as session:
            inquiries = session.exec(select(Inquiry).order_by(Inquiry.id)).all()  # type: ignore[arg-type]
            assert [i.topic for i in inquiries] == ["atkritumi"] * 3
            for inquiry in inquiries[:2]:  # staff move the two invoice letters to billing
                reassign(session, inquiry=inquiry, to_employee="rekini", actor=Actor.employee("koordinatore"),
                         reason="rēķins", notices=world.pipeline.notices, calendar=world.pipeline.router.calendar,
                         policy=world.pipeline.deadline_policy, now=world.clock.now)  # fmt: skip
    period = ("--from", "2026-11-20", "--to", "2026-11-30", "--config", str(config))

    report = run("routing-report", *period)
    assert report.startswith("2 reassignments moved an inquiry to another topic")
    assert report.count("atkritumi -> rekini") == 2 and "misled by: konteiner / konteiners" in report
    assert "words to consider for topic rekini: " in report and "pārmaksa (2)" in report

    cases = [json.loads(line) for line in run("routing-export", *period).splitlines()]
    assert [c["topic"] for c in cases] == ["rekini", "rekini", "atkritumi"]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in cases), encoding="utf-8")

    evaluated = run("routing-eval", str(path), "--config", str(config))
    assert evaluated.startswith("1 of 3 cases routed to their topic (33%)")
    assert "rekini           -> atkritumi        2" in evaluated
