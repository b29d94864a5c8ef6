"""``ingest serve`` and ``ingest check-config``."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import signal
import sys
from typing import Any

from ingest.cli.common import config_arg, load_settings, terminal_translations

log = logging.getLogger("ingest")


def parse_roles(value: str) -> list[str]:
    from ingest.config import ROLES

    roles = [r.strip() for r in value.split(",") if r.strip()]
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise argparse.ArgumentTypeError(f"roles are {', '.join(ROLES)}; got {value!r}")
    return roles


def cmd_check_config(args: argparse.Namespace) -> int:
    from jinja2 import TemplateError

    from ingest.assembly import reply_templates
    from ingest.config.checks import untranslated_details
    from ingest.outgoing.notices import ClientTemplates

    settings = load_settings(args.file)
    translations = terminal_translations()
    _, ngettext = translations.gettext, translations.ngettext
    try:
        ClientTemplates(settings.client_messages.templates_dir).check()
        reply_templates(settings)
    except TemplateError as exc:
        print("ingest: " + _("template error: %(error)s") % {"error": exc}, file=sys.stderr)
        return 2
    for where, languages in untranslated_details(settings):
        print("ingest: " + _("warning: %(where)s has no %(languages)s text; those clients read the Latvian one")
              % {"where": where, "languages": languages}, file=sys.stderr)  # fmt: skip
    if not settings.staff_replies.accept:
        print("ingest: " + _(
            "warning: [staff_replies] accept is empty: no reply to a notification is sent on to a client or"
            " closes an inquiry; configure \"dkim\" or \"authentication-results\" (README, answering by e-mail)"
        ), file=sys.stderr)  # fmt: skip
    employees, topics = len(settings.employees), len(settings.topics)
    print(
        _("%(path)s: OK (%(employees)s, %(topics)s, database %(database)s)")
        % {
            "path": args.file,
            "employees": ngettext("%(count)s employees", "%(count)s employees", employees) % {"count": employees},
            "topics": ngettext("%(count)s topics", "%(count)s topics", topics) % {"count": topics},
            "database": settings.database_url().split("://", 1)[0],
        }
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from jinja2 import TemplateError

    from ingest.logs import setup_logging
    from ingest.service import Service

    settings = load_settings(args.config)
    if getattr(args, "roles", None):
        settings = settings.model_copy(update={"cluster": settings.cluster.model_copy(update={"roles": args.roles})})
    setup_logging(settings.service.log_level)

    def on_signal(signum: int, _frame: Any) -> None:
        # uvicorn handles SIGINT/SIGTERM while it serves and re-raises them after it stopped;
        # by then shutdown is under way, so there is nothing left to do here.
        log.info("signal %s received; shutting down", signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # kill -USR1: where every thread is, written to stderr (the log), for a service that seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    _ = terminal_translations().gettext
    try:
        asyncio.run(Service(settings).run())
    except TemplateError as exc:  # a client message or reply template that cannot be used
        print("ingest: " + _("template error: %(error)s") % {"error": exc}, file=sys.stderr)
        return 2
    except OSError as exc:
        print("ingest: " + _("cannot start: %(error)s") % {"error": exc.strerror or exc}, file=sys.stderr)
        return 1
    except SystemExit as exc:  # uvicorn exits when it cannot bind its port
        if exc.code not in (None, 0):
            print("ingest: " + _("the HTTP server could not start (see the log above)"), file=sys.stderr)
            return 1
    return 0


def add_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the service: HTTP, SMTP listener, workers, scheduler")
    config_arg(serve)
    serve.add_argument(
        "--roles",
        type=parse_roles,
        default=None,
        help="what this process runs, comma-separated: web,worker,imap,scheduler (default: [cluster] roles, all)",
    )
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)
