"""The dashboard's commands: ``ingest password set`` and ``ingest report``.

Neither prints a password or a client's data.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.cli.common import config_arg, load_settings, opened, terminal_translations


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        # One line; only the line break is taken off (spaces may be part of a password).
        return sys.stdin.readline().rstrip("\r\n")
    _ = terminal_translations().gettext
    first = getpass.getpass(_("New password:") + " ")
    if getpass.getpass(_("Again:") + " ") != first:
        print("ingest: " + _("the two passwords differ; nothing changed"), file=sys.stderr)
        return None
    return first


def cmd_password_set(args: argparse.Namespace) -> int:
    from ingest.assembly import sync_employees
    from ingest.dashboard.passwords import PasswordError, set_password
    from ingest.dashboard.sessions import end_sessions_of
    from ingest.inquiries.audit import record_action
    from storage.db import transaction
    from storage.types import utcnow

    settings = load_settings(args.config)
    password = _read_password(args.stdin)
    if password is None:
        return 1
    try:
        with opened(settings) as sessions:
            # Employees as configured now, so a password can be set before the first serve.
            sync_employees(sessions, settings)
            with transaction(sessions) as session:
                set_password(session, employee_key=args.employee, password=password)
                # A new password logs the employee out everywhere (a leaked session dies with the old one).
                ended = end_sessions_of(session, employee_key=args.employee)
                record_action(session, actor=args.actor, action="employee.password_set", now=utcnow(),
                              detail={"employee": args.employee, "sessions_ended": ended, "via": "cli"})  # fmt: skip
    except PasswordError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    _ = terminal_translations().gettext
    print(_("password set for %(employee)s; log in at /dashboard/login") % {"employee": args.employee})
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ingest.dashboard.figures import Period, office_figures
    from ingest.dashboard.report import report_csv
    from ingest.inquiries.audit import record_action
    from storage.db import transaction
    from storage.types import utcnow

    settings = load_settings(args.config)
    try:
        period = Period(args.first, args.last)
    except ValueError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 2
    now = utcnow()
    with opened(settings) as sessions, transaction(sessions) as session:
        # The board's report: every inquiry, complaints included (policy clause 13).
        figures = office_figures(
            session, period=period, now=now, tz=ZoneInfo(settings.service.timezone),
            topic_names={t.key: t.name for t in settings.topics},
        )  # fmt: skip
        record_action(session, actor=args.actor, action="report.export", now=now,
                      detail={"period": period.label, "via": "cli"})  # fmt: skip
    text = report_csv(figures)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        _ = terminal_translations().gettext
        print(_("report %(period)s written to %(path)s") % {"period": period.label, "path": args.out}, file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {value!r}") from None


def add_commands(sub: Any) -> None:
    actor = os.environ.get("USER", "cli")
    password = sub.add_parser("password", help="dashboard passwords of employees")
    password_sub = password.add_subparsers(dest="action", required=True)
    set_ = password_sub.add_parser("set", help="set an employee's dashboard password (asked twice, never shown)")
    set_.add_argument("employee", help="the employee's key in the config")
    set_.add_argument("--stdin", action="store_true", help="read the password from the first line of stdin (scripts)")
    set_.add_argument("--actor", default=actor, help="who makes the change (for the audit log)")
    config_arg(set_)
    set_.set_defaults(func=cmd_password_set)

    report = sub.add_parser("report", help="the dashboard's figures of a period as CSV, for the board")
    report.add_argument(
        "--from", dest="first", type=_day, required=True, help="first day, YYYY-MM-DD (office time zone)"
    )
    report.add_argument("--to", dest="last", type=_day, required=True, help="last day, YYYY-MM-DD, included")
    report.add_argument("--out", default="", help="the CSV file to write (default: standard output)")
    report.add_argument("--actor", default=actor, help="who asks (for the audit log)")
    config_arg(report)
    report.set_defaults(func=cmd_report)
