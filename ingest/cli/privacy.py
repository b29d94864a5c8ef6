"""The privacy commands: ``ingest retention run`` and ``ingest gdpr export|erase``.

What they print are counts and ids: the terminal may end up in a ticket or a log.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.support import Translations

from ingest.cli.common import config_arg, load_settings, opened, terminal_translations


def cmd_retention(args: argparse.Namespace) -> int:
    from ingest.privacy.retention import run_retention
    from storage.types import utcnow

    settings = load_settings(args.config)
    with opened(settings) as sessions:
        report = run_retention(sessions, settings.retention, now=utcnow(), dry_run=args.dry_run, actor=args.actor)
    print("\n".join(report.lines()))
    if args.dry_run:
        _ = terminal_translations().gettext
        print(_("dry run: nothing was changed"))
    return 0


def cmd_gdpr_export(args: argparse.Namespace) -> int:
    from ingest.assembly import channels_from_settings
    from ingest.inquiries.audit import record_action
    from ingest.privacy.gdpr import ContactError, build_export, resolve_contact, write_export
    from storage.db import transaction
    from storage.types import utcnow

    settings = load_settings(args.config)
    out = Path(args.out)
    translations = terminal_translations()
    _ = translations.gettext
    if out.exists() and (out.suffix.lower() == ".zip" or any(out.iterdir())):
        print(
            "ingest: " + _("%(path)s exists; choose a new file or an empty directory") % {"path": out}, file=sys.stderr
        )
        return 1
    try:
        with opened(settings) as sessions, transaction(sessions) as session:
            contact = resolve_contact(session, args.contact)
            export = build_export(session, contact, channels_from_settings(settings))
            write_export(export, out)
            # Recorded with the export, in the same transaction: no copy handed out unrecorded.
            record_action(session, actor=args.actor, action="gdpr.export", now=utcnow(),
                  detail={"contact_id": contact.id, **export.counts()})  # fmt: skip
    except ContactError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # The path may hold a client's file name (personal data): only the kind of failure is told,
        # and nothing was recorded, as nothing was handed out.
        print("ingest: " + _("the export could not be written (%(error)s)") % {"error": type(exc).__name__},
              file=sys.stderr)  # fmt: skip
        return 1
    said = _("contact %(id)s: %(inquiries)s, %(messages)s, %(attachments)s, %(receipts)s written to %(path)s")
    print(said % {"id": contact.id, "path": out, **_counted(translations, export.counts())})
    listed = [str(r["receipt_id"]) for r in export.data["receipts_to_review"]]
    if listed:
        # Identifiers only: whether these are the client's data is for a person to judge.
        review = _(
            "receipts that mention the client but that they did not send (or whose sender is unknown):"
            " not exported, to be judged by a person: %(ids)s"
        )
        print(review % {"ids": ", ".join(listed)})
    return 0


def cmd_gdpr_erase(args: argparse.Namespace) -> int:
    from ingest.privacy.gdpr import ContactError, erase, resolve_contact
    from storage.types import utcnow

    settings = load_settings(args.config)
    translations = terminal_translations()
    _ = translations.gettext
    try:
        with opened(settings) as sessions:
            with sessions() as session:
                contact = resolve_contact(session, args.contact)
            assert contact.id is not None
            question = _("erase everything personal about contact %(id)s? [y/N]") % {"id": contact.id}
            if not args.yes and not _confirm(question + " ", translations):
                print(_("nothing erased"))
                return 1
            done = erase(sessions, contact.id, folder=settings.outgoing_folder(), now=utcnow(), actor=args.actor)
    except ContactError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    said = _(
        "contact %(id)s erased: %(inquiries)s, %(messages)s, %(attachments)s, %(receipts)s, %(outbox)s, %(events)s,"
        " %(files)s; the statistics keep their counts"
    )
    print(said % {"id": contact.id, **_counted(translations, {**done.counts.as_dict(), "files": done.files})})
    if done.log_emptied is False:
        # A reader held the SQLite write-ahead log: erased rows may stay in it until the next checkpoint.
        print("ingest: " + _("the database log is in use; run the erasure again later to empty it"), file=sys.stderr)
    return 0


def _counted(translations: Translations, counts: Mapping[str, int]) -> dict[str, str]:
    """Each count with its noun (``3 inquiries``), in the terminal's language; English keeps the
    plural noun for one too, as these lines have always read."""
    ngettext = translations.ngettext
    n = {
        key: counts.get(key, 0)
        for key in ("inquiries", "messages", "attachments", "receipts", "outbox", "events", "files")
    }
    phrases = {
        "inquiries": ngettext("%(count)s inquiries", "%(count)s inquiries", n["inquiries"]),
        "messages": ngettext("%(count)s messages", "%(count)s messages", n["messages"]),
        "attachments": ngettext("%(count)s attachments", "%(count)s attachments", n["attachments"]),
        "receipts": ngettext("%(count)s receipts", "%(count)s receipts", n["receipts"]),
        "outbox": ngettext("%(count)s outgoing", "%(count)s outgoing", n["outbox"]),
        "events": ngettext("%(count)s events", "%(count)s events", n["events"]),
        "files": ngettext("%(count)s .eml files", "%(count)s .eml files", n["files"]),
    }
    return {key: phrase % {"count": n[key]} for key, phrase in phrases.items()}


def _confirm(question: str, translations: Translations) -> bool:
    if not sys.stdin.isatty():
        print("ingest: " + translations.gettext("not a terminal; add --yes to erase"), file=sys.stderr)
        return False
    return input(question).strip().lower() in ("y", "yes", "j", "jā", "д", "да")


def add_commands(sub: Any) -> None:
    """Register ``retention`` and ``gdpr`` on the ``ingest`` parser."""
    actor = os.environ.get("USER", "cli")

    retention = sub.add_parser("retention", help="anonymise old closed inquiries and empty old raw receipts")
    retention_sub = retention.add_subparsers(dest="action", required=True)
    run = retention_sub.add_parser("run", help="apply the [retention] policy now (the service does it daily)")
    run.add_argument("--dry-run", action="store_true", help="only count what would be done")
    run.add_argument("--actor", default=actor, help="who runs it (for the audit log)")
    config_arg(run)
    run.set_defaults(func=cmd_retention)

    gdpr = sub.add_parser("gdpr", help="one client's data: export a copy, or erase it")
    gdpr_sub = gdpr.add_subparsers(dest="action", required=True)
    export = gdpr_sub.add_parser("export", help="everything held about a client, as JSON and files")
    export.add_argument("contact", help="contact id, e-mail address or phone number")
    export.add_argument("--out", required=True, help="a new directory, or a file ending in .zip")
    export.add_argument("--actor", default=actor, help="who asks (for the audit log)")
    config_arg(export)
    export.set_defaults(func=cmd_gdpr_export)
    erase = gdpr_sub.add_parser("erase", help="remove everything personal about a client; statistics keep their counts")
    erase.add_argument("contact", help="contact id, e-mail address or phone number")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument("--actor", default=actor, help="who asks (for the audit log)")
    config_arg(erase)
    erase.set_defaults(func=cmd_gdpr_erase)
