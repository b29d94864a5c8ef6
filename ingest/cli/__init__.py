"""The ``ingest`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ingest.config import ConfigError, Settings, load_config

if TYPE_CHECKING:
    from storage.db import SessionFactory

log = logging.getLogger("ingest")

DEFAULT_CONFIG = "config.toml"


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=os.environ.get("INGEST_CONFIG", DEFAULT_CONFIG),
        help="the TOML configuration file (default: $INGEST_CONFIG or ./config.toml)",
    )


def _roles(value: str) -> list[str]:
    from ingest.config import ROLES

    roles = [r.strip() for r in value.split(",") if r.strip()]
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise argparse.ArgumentTypeError(f"roles are {', '.join(ROLES)}; got {value!r}")
    return roles


def _load(path: str) -> Settings:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"ingest: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    from jinja2 import TemplateError

    from ingest.outgoing.notices import ClientTemplates

    settings = _load(args.file)
    try:
        ClientTemplates(settings.client_messages.templates_dir).check()
    except TemplateError as exc:
        print(f"ingest: template error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{args.file}: OK ({len(settings.employees)} employees, {len(settings.topics)} topics, "
        f"database {settings.database_url().split('://', 1)[0]})"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ingest.logs import setup_logging
    from ingest.service import Service

    settings = _load(args.config)
    if getattr(args, "roles", None):
        settings = settings.model_copy(update={"cluster": settings.cluster.model_copy(update={"roles": args.roles})})
    setup_logging(settings.service.log_level)

    def on_signal(signum: int, _frame: Any) -> None:
        # uvicorn handles SIGINT/SIGTERM while it serves and re-raises them after it stopped;
        # by then shutdown is under way, so there is nothing left to do here.
        log.info("signal %s received; shutting down", signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        asyncio.run(Service(settings).run())
    except OSError as exc:
        print(f"ingest: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:  # uvicorn exits when it cannot bind its port
        if exc.code not in (None, 0):
            print("ingest: the HTTP server could not start (see the log above)", file=sys.stderr)
            return 1
    return 0


def inspect_email(raw: bytes, settings: Settings) -> dict[str, Any]:
    """What the service would make of a message, without storing anything."""
    from ingest.routing import router_from_settings
    from ingest.service import channels_from_settings
    from router.route import Load, Situation
    from storage.types import utcnow

    channel = channels_from_settings(settings)["email"]
    now = utcnow()
    meta = {"received_at": now.isoformat(), "envelope_from": ""}
    inbound = channel.normalise(raw, meta)
    counts, thread = _stored_view(settings, inbound.refers_to, inbound.subject or "")
    decision = router_from_settings(settings).decide(
        subject=inbound.subject,
        text=inbound.text,
        received_at=now,
        attachments=len(inbound.attachments),
        situation=Situation(load={k: Load(open=n) for k, n in counts.items()}),
    )
    employee = settings.employee(decision.employee_key)
    tz = ZoneInfo(settings.service.timezone)
    return {
        "natural_id": inbound.external_id,
        "sender": {"name": inbound.sender_name, "address": inbound.sender_address},
        "subject": inbound.subject,
        "text": inbound.text,
        "refers_to": list(inbound.refers_to),
        "automatic": {"kind": inbound.automatic, "why": inbound.automatic_why} if inbound.automatic else None,
        "threads_into": thread,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "omitted": a.omitted_reason}
            for a in inbound.attachments
        ],
        "defects": list(inbound.extra.get("defects", [])),
        "routing": {
            "topic": decision.topic_key,
            "kind": decision.kind,
            "language": decision.language,
            "complexity": decision.complexity,
            "rule": decision.rule,
            "facts": decision.facts,
            "employee": {
                "key": employee.key,
                "name": f"{employee.name} {employee.surname}",
                "position": employee.position,
            },
            "due_at": decision.due_at.astimezone(tz).isoformat(),
        },
    }


def _stored_view(settings: Settings, refers_to: tuple[str, ...], subject: str) -> tuple[dict[str, int], str | None]:
    """Current load per employee, and the stored inquiry the message would join, if the
    database is there; inspecting never creates it."""
    from sqlalchemy import inspect as sa_inspect

    from storage import repo
    from storage.db import make_engine, session_factory

    url = settings.database_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}, None
    engine = make_engine(url)
    try:
        if not sa_inspect(engine).has_table("inquiry"):
            return {}, None
        with session_factory(engine)() as session:
            counts = repo.open_counts_by_employee(session)
            joined = repo.inquiry_for_references(session, external_ids=refers_to)
            if joined is None:
                tag = repo.reference_pattern(settings.service.reference_prefix).search(subject)
                joined = repo.inquiry_by_reference(session, reference=tag.group(1)) if tag else None
            return counts, joined.reference if joined else None
    except Exception:  # noqa: BLE001 - the stored view is a nicety here; the rest works without it
        return {}, None
    finally:
        engine.dispose()


def cmd_inspect_email(args: argparse.Namespace) -> int:
    from channels.base import UnprocessableReceipt

    settings = _load(args.config)
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"ingest: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        result = inspect_email(raw, settings)
    except UnprocessableReceipt as exc:
        print(json.dumps({"error": str(exc)}, ensure_ascii=False, indent=2))
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


@contextmanager
def _opened(settings: Settings) -> Iterator[SessionFactory]:
    """Sessions on the configured database, migrated (commands may run before the first serve)."""
    from storage.db import make_engine, migrate, session_factory

    engine = make_engine(settings.database_url())
    try:
        migrate(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()


def cmd_explain(args: argparse.Namespace) -> int:
    from ingest.inquiries.errors import InquiryError
    from ingest.inquiries.explain import explain

    settings = _load(args.config)
    try:
        with _opened(settings) as sessions, sessions() as session:
            result = explain(session, reference=args.reference, tz=ZoneInfo(settings.service.timezone))
    except InquiryError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    print("\n".join(result.lines))
    return 0


def cmd_reassign(args: argparse.Namespace) -> int:
    from ingest.inquiries.errors import InquiryError
    from ingest.inquiries.reassign import get_inquiry, reassign
    from ingest.service import notices_from_settings
    from storage.db import transaction
    from storage.types import utcnow

    settings = _load(args.config)
    try:
        with _opened(settings) as sessions, transaction(sessions) as session:
            inquiry = get_inquiry(session, args.reference)
            new = reassign(
                session,
                inquiry=inquiry,
                to_employee=args.employee,
                actor=args.actor,
                reason=args.reason,
                notices=notices_from_settings(settings),
                now=utcnow(),
            )
    except InquiryError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    print(f"{inquiry.reference} reassigned to {new.name} {new.surname}; the client and the employee will be told")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """What is stuck: parked receipts, failed outgoing messages and media not fetched, with their errors."""
    from ingest.intake.media_fetch import failed_media
    from storage import repo
    from storage.models import Outbox, Receipt

    settings = _load(args.config)
    with _opened(settings) as sessions, sessions() as session:
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
    from ingest.intake.media_fetch import retry_media
    from storage import repo
    from storage.db import transaction
    from storage.types import utcnow

    if not (args.all or args.receipt or args.outbox or args.media):
        print("ingest: say what to retry: --all, --receipt ID, --outbox ID or --media ID", file=sys.stderr)
        return 2
    settings = _load(args.config)
    now = utcnow()
    with _opened(settings) as sessions, transaction(sessions) as session:
        receipts = repo.retry_receipts(session, now=now, ids=None if args.all else args.receipt or [])
        outbox = repo.retry_outbox(session, now=now, ids=None if args.all else args.outbox or [])
        media = retry_media(session, now=now, ids=None if args.all else args.media or [])
    print(
        f"{receipts} receipt(s), {outbox} outgoing message(s) and {media} media item(s) queued again;"
        " a running service takes them up"
    )
    return 0


def cmd_import_calls(args: argparse.Namespace) -> int:
    """Store a call log's calls as phone receipts, then turn the missed ones into call-back inquiries."""
    from channels.calls import CallChannel
    from ingest.intake.call_log import ImportError_, import_calls
    from ingest.intake.receipts import ReceiptStore
    from ingest.pipeline.runner import Outcome
    from ingest.service import build_pipeline, channels_from_settings, sync_employees
    from storage.types import utcnow

    settings = _load(args.config)
    tz = ZoneInfo(settings.calls.timezone or settings.service.timezone)
    with _opened(settings) as sessions:
        channel = channels_from_settings(settings)["phone"]
        assert isinstance(channel, CallChannel)
        store = ReceiptStore(sessions=sessions, clock=utcnow)
        source = "asterisk-cdr" if args.format == "asterisk" else "csv-import"
        try:
            report = import_calls(
                Path(args.file),
                fmt=args.format,
                settings=settings.calls,
                tz=tz,
                store_batch=lambda items: store.store_batch_sync(channel, source=source, items=items, wake=False),
            )
        except ImportError_ as exc:
            print(f"ingest: {exc}", file=sys.stderr)
            return 2
        if report.new_receipt_ids and not args.no_process:
            # The same pipeline the service runs: a running service may take some first (skipped here).
            import time

            sync_employees(sessions, settings)
            pipeline = build_pipeline(settings, sessions, utcnow)
            started = time.perf_counter()
            for receipt_id in report.new_receipt_ids:
                outcome = pipeline.process(receipt_id)
                report.processed[outcome.value] = report.processed.get(outcome.value, 0) + 1
                if outcome == Outcome.NEW_INQUIRY:
                    report.inquiries_opened += 1
            report.process_seconds = time.perf_counter() - started
    print("\n".join(report.lines()))
    return 1 if report.rejected else 0


def cmd_token(args: argparse.Namespace) -> int:
    """API tokens: create (the secret is printed once), list, revoke."""
    from ingest.api.tokens import TokenError, create_token, list_tokens, revoke_token
    from ingest.service import sync_employees
    from storage.db import transaction
    from storage.types import utcnow

    settings = _load(args.config)
    try:
        with _opened(settings) as sessions:
            # Employees and roles as configured now, so a token can be made before the first serve.
            sync_employees(sessions, settings)
            with transaction(sessions) as session:
                if args.action == "create":
                    new = create_token(session, employee_key=args.employee, name=args.name, now=utcnow())
                elif args.action == "revoke":
                    row = revoke_token(session, token_id=args.id, now=utcnow())
                else:
                    rows = list_tokens(session)
    except TokenError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    if args.action == "create":
        print(f"token {new.id} for {new.employee_key} (shown only now; keep it secret):", file=sys.stderr)
        print(new.secret)
    elif args.action == "revoke":
        print(f"token {row.id} of {row.employee_key} revoked")
    else:
        for t in rows:
            state = f"revoked {t.revoked_at.isoformat()}" if t.revoked_at else "active"
            used = t.last_used_at.isoformat() if t.last_used_at else "never used"
            print(f"{t.id}\t{t.employee_key}\t{t.name or '-'}\t{state}\tcreated {t.created_at.isoformat()}\t{used}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingest", description="Omnichannel inquiry service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service: HTTP, SMTP listener, workers, scheduler")
    _config_arg(serve)
    serve.add_argument(
        "--roles",
        type=_roles,
        default=None,
        help="what this process runs, comma-separated: web,worker,imap,scheduler (default: [cluster] roles, all)",
    )
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    inspect = sub.add_parser("inspect-email", help="show, as JSON, what the service makes of an e-mail")
    inspect.add_argument("file")
    _config_arg(inspect)
    inspect.set_defaults(func=cmd_inspect_email)

    why = sub.add_parser("explain", help="why an inquiry went to whom, and how its due date was computed")
    why.add_argument("reference")
    _config_arg(why)
    why.set_defaults(func=cmd_explain)

    move = sub.add_parser("reassign", help="give an inquiry to another employee; the client gets a redirect notice")
    move.add_argument("reference")
    move.add_argument("employee", help="the employee's key in the config")
    move.add_argument("--reason", default="", help="why, for the record and the client's notice")
    move.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who makes the change (for the record)")
    _config_arg(move)
    move.set_defaults(func=cmd_reassign)

    doctor = sub.add_parser("doctor", help="list parked receipts and failed outgoing messages with their errors")
    _config_arg(doctor)
    doctor.set_defaults(func=cmd_doctor)

    retry = sub.add_parser("retry", help="queue parked receipts and failed outgoing messages again")
    retry.add_argument("--all", action="store_true", help="everything parked or failed")
    retry.add_argument("--receipt", type=int, action="append", help="a parked receipt's id (repeatable)")
    retry.add_argument("--outbox", type=int, action="append", help="a failed outgoing message's id (repeatable)")
    retry.add_argument("--media", type=int, action="append", help="a media item not fetched, by id (repeatable)")
    _config_arg(retry)
    retry.set_defaults(func=cmd_retry)

    calls = sub.add_parser(
        "import-calls",
        help="import a call log (Asterisk Master.csv or a CSV export); missed calls become call-back inquiries",
    )
    calls.add_argument("file")
    calls.add_argument("--format", choices=("asterisk", "csv"), default="asterisk", help="asterisk (default) or csv")
    calls.add_argument(
        "--no-process", action="store_true", help="only store the calls; the running service's pipeline takes them up"
    )
    _config_arg(calls)
    calls.set_defaults(func=cmd_import_calls)

    token = sub.add_parser("token", help="API tokens of the staff API: create, list, revoke")
    token_sub = token.add_subparsers(dest="action", required=True)
    create = token_sub.add_parser("create", help="a new token for an employee; the secret is printed once")
    create.add_argument("employee", help="the employee's key in the config")
    create.add_argument("--name", default="", help="what the token is for (e.g. the device)")
    _config_arg(create)
    listing = token_sub.add_parser("list", help="all tokens: id, employee, name, state, created, last used")
    _config_arg(listing)
    revoke = token_sub.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id", type=int)
    _config_arg(revoke)
    token.set_defaults(func=cmd_token)

    # Retention and GDPR export/erasure (policy clause 5.5): ingest/privacy_cli.py.
    from ingest.cli.privacy import add_privacy_commands

    add_privacy_commands(sub, _config_arg)

    # The dashboard's passwords and the board's report: ingest/dashboard_cli.py.
    from ingest.cli.dashboard import add_dashboard_commands

    add_dashboard_commands(sub, _config_arg)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
