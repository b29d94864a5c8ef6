"""``ingest explain`` and ``ingest reassign``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from zoneinfo import ZoneInfo

from ingest.cli.common import config_arg, load_settings, opened, terminal_translations


def cmd_explain(args: argparse.Namespace) -> int:
    from ingest.inquiries.errors import InquiryError
    from ingest.inquiries.explain import explain

    settings = load_settings(args.config)
    try:
        with opened(settings) as sessions, sessions() as session:
            result = explain(session, reference=args.reference, tz=ZoneInfo(settings.service.timezone))
    except InquiryError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    print("\n".join(result.lines))
    return 0


def cmd_reassign(args: argparse.Namespace) -> int:
    from ingest.assembly import deadline_policy, notices_from_settings
    from ingest.inquiries.errors import InquiryError
    from ingest.inquiries.reassign import get_inquiry, reassign
    from ingest.routing import calendar_from_settings
    from storage.actors import Actor
    from storage.db import transaction
    from storage.types import utcnow

    settings = load_settings(args.config)
    try:
        with opened(settings) as sessions, transaction(sessions) as session:
            inquiry = get_inquiry(session, args.reference)
            new = reassign(
                session,
                inquiry=inquiry,
                to_employee=args.employee,
                actor=Actor.cli(args.actor),
                reason=args.reason,
                notices=notices_from_settings(settings),
                calendar=calendar_from_settings(settings),
                policy=deadline_policy(settings),
                now=utcnow(),
            )
    except InquiryError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    _ = terminal_translations().gettext
    print(
        _("%(reference)s reassigned to %(employee)s; the client and the employee will be told")
        % {"reference": inquiry.reference, "employee": f"{new.name} {new.surname}"}
    )
    return 0


def add_commands(sub: Any) -> None:
    why = sub.add_parser("explain", help="why an inquiry went to whom, and how its due date was computed")
    why.add_argument("reference")
    config_arg(why)
    why.set_defaults(func=cmd_explain)

    move = sub.add_parser("reassign", help="give an inquiry to another employee; the client gets a redirect notice")
    move.add_argument("reference")
    move.add_argument("employee", help="the employee's key in the config")
    move.add_argument("--reason", default="", help="why, for the record and the client's notice")
    move.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who makes the change (for the record)")
    config_arg(move)
    move.set_defaults(func=cmd_reassign)
