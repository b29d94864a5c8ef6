"""``ingest inspect-email``: what the service would make of a message, as JSON, storing nothing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.cli.common import config_arg, load_settings, terminal_translations
from ingest.config import Settings
from ingest.config.fields import in_language


def inspect_email(raw: bytes, settings: Settings) -> dict[str, Any]:
    """What the service would make of a message, without storing anything."""
    from channels.base import UnprocessableReceipt
    from ingest.assembly import channels_from_settings
    from ingest.pipeline.automatic_rules import decide_inbound
    from ingest.routing import router_from_settings
    from router.route import Load, Situation
    from storage.types import utcnow

    channel = channels_from_settings(settings)["email"]
    now = utcnow()
    # No envelope: a file has none (an empty envelope sender would mean "automatic mail").
    meta = {"received_at": now.isoformat()}
    inbound = channel.normalise(raw, meta)
    found = decide_inbound(inbound)  # as the pipeline's automatic step decides
    if found is None and not inbound.sender_address:
        raise UnprocessableReceipt("no sender address: neither a From header nor an envelope sender")
    automatic = {"kind": found.kind, "why": found.why, "opens_inquiry": found.opens_inquiry} if found else None
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
        "automatic": automatic,
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
                "position": in_language(employee.position, "lv"),
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

    settings = load_settings(args.config)
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        _ = terminal_translations().gettext
        print(
            "ingest: " + _("cannot read %(path)s: %(error)s") % {"path": args.file, "error": exc.strerror},
            file=sys.stderr,
        )
        return 1
    try:
        result = inspect_email(raw, settings)
    except UnprocessableReceipt as exc:
        print(json.dumps({"error": str(exc)}, ensure_ascii=False, indent=2))
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def add_commands(sub: Any) -> None:
    inspect = sub.add_parser("inspect-email", help="show, as JSON, what the service makes of an e-mail")
    inspect.add_argument("file")
    config_arg(inspect)
    inspect.set_defaults(func=cmd_inspect_email)
