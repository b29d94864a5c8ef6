"""``ingest doctor`` and ``ingest retry``: what is stuck in the work queues, and queuing it again."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ingest.cli.common import config_arg, load_settings, opened, terminal_translations


def cmd_doctor(args: argparse.Namespace) -> int:
    """What is stuck: parked receipts, failed outgoing messages and media not fetched, with their errors."""
    from storage import metrics_repo, repo
    from storage.media_repo import failed_media
    from storage.models import Outbox, Receipt

    settings = load_settings(args.config)
    with opened(settings) as sessions, sessions() as session:
        receipts = repo.count_by_status(session, Receipt)
        outbox = repo.count_by_status(session, Outbox)
        parked = repo.parked_receipts(session)
        failed = repo.failed_outbox(session)
        media = failed_media(session)
        automatic = metrics_repo.automatic_mail_by_reason(session)
    # The counts as JSON, for scripts: never translated. The lines after them are for people.
    print(f"receipts: {json.dumps(receipts, sort_keys=True)}")
    print(f"outbox:   {json.dumps(outbox, sort_keys=True)}")
    # Automatic mail kept without an inquiry, by reason: no failure, but mail no one was told of
    # (the workspace lists it under Automātiskās vēstules).
    print(f"automatic kept: {json.dumps({k: n for k, kept, n in automatic if kept}, sort_keys=True)}")
    translations = terminal_translations()
    _, ngettext = translations.gettext, translations.ngettext

    def attempts(n: int) -> str:
        return ngettext("%(count)s attempts", "%(count)s attempts", n) % {"count": n}

    for r in parked:
        retry = r.next_attempt_at.isoformat() if r.next_attempt_at else _("no automatic retry")
        print(
            _("parked receipt %(id)s (%(channel)s via %(source)s, %(attempts)s, %(retry)s): %(error)s")
            % {
                "id": r.id,
                "channel": r.channel,
                "source": r.source,
                "attempts": attempts(r.attempts),
                "retry": retry,
                "error": r.last_error,
            }
        )
    for o in failed:
        print(
            _("failed outbox %(id)s (%(kind)s by %(channel)s, %(attempts)s): %(error)s")
            % {
                "id": o.id,
                "kind": o.kind,
                "channel": o.channel,
                "attempts": attempts(o.attempts),
                "error": o.last_error,
            }
        )
    for m in media:
        print(
            _("media not fetched %(id)s (attachment %(attachment)s, %(attempts)s): %(error)s")
            % {"id": m.id, "attachment": m.attachment_id, "attempts": attempts(m.attempts), "error": m.last_error}
        )
    if parked or failed or media:
        print(_("retry with: ingest retry --all  (or --receipt ID / --outbox ID / --media ID)"))
        return 1
    print(_("nothing parked, nothing failed"))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from storage import repo
    from storage.db import transaction
    from storage.media_repo import retry_media
    from storage.types import utcnow

    translations = terminal_translations()
    _, ngettext = translations.gettext, translations.ngettext
    if not (args.all or args.receipt or args.outbox or args.media):
        print("ingest: " + _("say what to retry: --all, --receipt ID, --outbox ID or --media ID"), file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    now = utcnow()
    with opened(settings) as sessions, transaction(sessions) as session:
        receipts = repo.retry_receipts(session, now=now, ids=None if args.all else args.receipt or [])
        outbox = repo.retry_outbox(session, now=now, ids=None if args.all else args.outbox or [])
        media = retry_media(session, now=now, ids=None if args.all else args.media or [])
    counted = {
        "receipts": ngettext("%(count)s receipt(s)", "%(count)s receipt(s)", receipts) % {"count": receipts},
        "outbox": ngettext("%(count)s outgoing message(s)", "%(count)s outgoing message(s)", outbox)
        % {"count": outbox},
        "media": ngettext("%(count)s media item(s)", "%(count)s media item(s)", media) % {"count": media},
    }
    print(_("%(receipts)s, %(outbox)s and %(media)s queued again; a running service takes them up") % counted)
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
