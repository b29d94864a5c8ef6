"""``ingest routing-report``, ``ingest routing-export`` and ``ingest routing-eval``: how the router
did against the office's own corrections, and how a changed configuration would do."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ingest.cli.common import config_arg, load_settings, opened, terminal_translations
from ingest.config import Settings


def _period(settings: Settings, args: argparse.Namespace) -> tuple[datetime, datetime]:
    """[--from, --to] as whole local days (the office's time zone)."""
    tz = ZoneInfo(settings.service.timezone)
    start = datetime.combine(args.date_from, time.min, tzinfo=tz)
    return start, datetime.combine(args.date_to + timedelta(days=1), time.min, tzinfo=tz)


def _topics(settings: Settings) -> dict[str, list[str]]:
    return {topic.key: list(topic.employees) for topic in settings.topics}


def cmd_report(args: argparse.Namespace) -> int:
    from ingest.inquiries.routing_review import misroutes, suggested_keywords

    settings = load_settings(args.config)
    translations = terminal_translations()
    _ = translations.gettext
    start, end = _period(settings, args)
    with opened(settings) as sessions, sessions() as session:
        found = misroutes(session, start=start, end=end, topics=_topics(settings))
    print(translations.ngettext("%(count)s reassignment moved an inquiry to another topic",
                                "%(count)s reassignments moved an inquiry to another topic", len(found))
          % {"count": len(found)})  # fmt: skip
    for item in found:
        misled = _("misled by: %(words)s") % {"words": " / ".join(item.misled_by) or "-"}
        moved = f"{item.routed_topic or '-'} -> {item.final_topic or '-'}"
        print(f"  {item.reference}  {moved}  ({item.from_employee or '-'} -> {item.to_employee})  {misled}")
    keywords = {topic.key: list(topic.keywords) for topic in settings.topics}
    for topic, words in suggested_keywords(found, keywords).items():
        if words:
            listed = ", ".join(f"{word} ({n})" for word, n in words)
            print(_("words to consider for topic %(topic)s: %(words)s") % {"topic": topic, "words": listed})
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ingest.inquiries.routing_review import export_cases

    settings = load_settings(args.config)
    start, end = _period(settings, args)
    with opened(settings) as sessions, sessions() as session:
        for case in export_cases(session, start=start, end=end, topics=_topics(settings)):
            print(json.dumps(case, ensure_ascii=False))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ingest.inquiries.routing_review import evaluate
    from ingest.routing import router_from_settings

    settings = load_settings(args.config)
    translations = terminal_translations()
    _ = translations.gettext
    try:
        with open(args.cases, encoding="utf-8") as fh:
            cases = [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError) as exc:
        print("ingest: " + _("cannot read %(file)s: %(error)s") % {"file": args.cases, "error": exc}, file=sys.stderr)
        return 2
    result = evaluate(router_from_settings(settings), cases)
    share = result.right / result.total if result.total else 0.0
    print(translations.ngettext("%(right)s of %(total)s case routed to its topic (%(share).0f%%)",
                                "%(right)s of %(total)s cases routed to their topic (%(share).0f%%)", result.total)
          % {"right": result.right, "total": result.total, "share": 100 * share})  # fmt: skip
    for topic, (n, right) in sorted(result.per_topic.items()):
        print(f"  {topic:16} {right:5} / {n:<5} {100 * right / n:5.0f}%")
    if result.confusion:
        print(_("taken for another topic (right -> routed: cases):"))
        for (expected, got), n in result.confusion.most_common():
            print(f"  {expected:16} -> {got:16} {n}")
    return 0


def _dates(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="date_from", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD"
    )
    parser.add_argument("--to", dest="date_to", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")


def add_commands(sub: Any) -> None:
    report = sub.add_parser("routing-report", help="reassignments that moved inquiries to another topic, with the "
                            "words that misled the router and keywords to consider")  # fmt: skip
    _dates(report)
    config_arg(report)
    report.set_defaults(func=cmd_report)

    export = sub.add_parser(
        "routing-export", help="past inquiries with their final topic, as JSON lines for routing-eval"
    )
    _dates(export)
    config_arg(export)
    export.set_defaults(func=cmd_export)

    check = sub.add_parser("routing-eval", help="route labelled cases (JSON lines: subject, text, topic) with the "
                           "current configuration: accuracy per topic and what was taken for what")  # fmt: skip
    check.add_argument("cases", help="a JSON-lines file, e.g. from routing-export")
    config_arg(check)
    check.set_defaults(func=cmd_eval)
