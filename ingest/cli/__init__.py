"""The ``ingest`` command: one module per command group, each registering its subcommands."""

from __future__ import annotations

import argparse

from ingest.cli import calls, dashboard, inquiries, inspect, privacy, queues, routing, serve, tokens

# In the order ``ingest --help`` lists them.
GROUPS = (serve, inspect, inquiries, routing, queues, calls, tokens, privacy, dashboard)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingest", description="Omnichannel inquiry service")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
