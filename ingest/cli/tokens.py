"""``ingest token``: the staff API's personal tokens (create, list, revoke)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ingest.cli.common import config_arg, load_settings, opened, terminal_translations


def cmd_token(args: argparse.Namespace) -> int:
    """API tokens: create (the secret is printed once), list, revoke."""
    from ingest.api.tokens import TokenError, create_token, list_tokens, revoke_token
    from ingest.assembly import sync_employees
    from storage.db import transaction
    from storage.types import utcnow

    settings = load_settings(args.config)
    try:
        with opened(settings) as sessions:
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
    _ = terminal_translations().gettext
    if args.action == "create":
        said = _("token %(id)s for %(employee)s (shown only now; keep it secret):")
        print(said % {"id": new.id, "employee": new.employee_key}, file=sys.stderr)
        print(new.secret)  # the secret itself, for a script to take: never translated
    elif args.action == "revoke":
        print(_("token %(id)s of %(employee)s revoked") % {"id": row.id, "employee": row.employee_key})
    else:  # tab-separated lines for scripts: never translated
        for t in rows:
            state = f"revoked {t.revoked_at.isoformat()}" if t.revoked_at else "active"
            used = t.last_used_at.isoformat() if t.last_used_at else "never used"
            print(f"{t.id}\t{t.employee_key}\t{t.name or '-'}\t{state}\tcreated {t.created_at.isoformat()}\t{used}")
    return 0


def add_commands(sub: Any) -> None:
    token = sub.add_parser("token", help="API tokens of the staff API: create, list, revoke")
    token_sub = token.add_subparsers(dest="action", required=True)
    create = token_sub.add_parser("create", help="a new token for an employee; the secret is printed once")
    create.add_argument("employee", help="the employee's key in the config")
    create.add_argument("--name", default="", help="what the token is for (e.g. the device)")
    config_arg(create)
    listing = token_sub.add_parser("list", help="all tokens: id, employee, name, state, created, last used")
    config_arg(listing)
    revoke = token_sub.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id", type=int)
    config_arg(revoke)
    token.set_defaults(func=cmd_token)
