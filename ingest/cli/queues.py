"""``ingest doctor`` and ``ingest retry``: what is stuck in the work queues, and queuing it again."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ingest.cli.common import config_arg, load_settings, opened


def cmd_doctor(args: argparse.Namespace) -> int:
    """What is stuck: parked receipts, failed outgoing messages and media not fetched, with their errors."""
    from storage import repo
    from storage.media_repo import failed_media
    from storage.models import Outbox, Receipt

    settings = load_settings(args.config)
    with opened(settings) as sessions, sessions() as session:
        receipts = repo.count_by_status(session, Receipt)
        outbox = repo.count_by_status(session, Outbox)
        parked = repo.parked_receipts(session)
        failed = repo.failed_outbox(session)
        media = failed_media(session)
    print(f"receipts: {json.dumps(receipts, sort_keys=True)}")
    print(f"outbox:   {json.dumps(outbox, sort_keys=True)}")
    for r in parked:
        retry = r.next_attempt_at.isoformat() if r.next_attempt_at else "no automatic retry"
        print(f"parked receipt {r.id} ({r.channel} via {r.source}, {r.attempts} attempts, {retry}): {r.last_error}")
    for o in failed:
        print(f"failed outbox {o.id} ({o.kind} by {o.channel}, {o.attempts} attempts): {o.last_error}")
    for m in media:
        print(f"media not fetched {m.id} (attachment {m.attachment_id}, {m.attempts} attempts): {m.last_error}")
    if parked or failed or media:
        print("retry with: ingest retry --all  (or --receipt ID / --outbox ID / --media ID)")
        return 1
    print("nothing parked, nothing failed")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from storage import repo
    from storage.db import transaction
    from storage.media_repo import retry_media
    from storage.types import utcnow

    if not (args.all or args.receipt or args.outbox or args.media):
        print("ingest: say what to retry: --all, --receipt ID, --outbox ID or --media ID", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    now = utcnow()
    with opened(settings) as sessions, transaction(sessions) as session:
        receipts = repo.retry_receipts(session, now=now, ids=None if args.all else args.receipt or [])
        outbox = repo.retry_outbox(session, now=now, ids=None if args.all else args.outbox or [])
        media = retry_media(session, now=now, ids=None if args.all else args.media or [])
    print(
        f"{receipts} receipt(s), {outbox} outgoing message(s) and {media} media item(s) queued again;"
        " a running service takes them up"
    )
    return 0


def add_commands(sub: Any) -> None:
    doctor = sub.add_parser("doctor", help="list parked receipts and failed outgoing messages with their errors")
    config_arg(doctor)
    doctor.set_defaults(func=cmd_doctor)

    retry = sub.add_parser("retry", help="queue parked receipts and failed outgoing messages again")
    retry.add_argument("--all", action="store_true", help="everything parked or failed")
    retry.add_argument("--receipt", type=int, action="append", help="a parked receipt's id (repeatable)")
    retry.add_argument("--outbox", type=int, action="append", help="a failed outgoing message's id (repeatable)")
    retry.add_argument("--media", type=int, action="append", help="a media item not fetched, by id (repeatable)")
    config_arg(retry)
    retry.set_defaults(func=cmd_retry)
