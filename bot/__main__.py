"""The `helpbot` command line: one sub-command per adapter module; `python -m bot` is the same."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Each module exposes ``register(subparsers)``; its sub-commands set ``func(args) -> int``.
_COMMAND_MODULES = (
    "handlers.cli.ask",
    "handlers.cli.chat",
    "handlers.cli.operator",
    "handlers.cli.db",
    "handlers.cli.report",
    "handlers.cli.bitrix",
    "handlers.cli.serve",
)
# The module of each top-level command, so that `helpbot ask` does not import the database,
# aiogram and aiohttp that other commands need (start-up time is part of a batch's time).
_MODULE_OF = {
    "ask": "handlers.cli.ask",
    "kb": "handlers.cli.ask",
    "chat": "handlers.cli.chat",
    "operator": "handlers.cli.operator",
    "db": "handlers.cli.db",
    "report": "handlers.cli.report",
    "bitrix": "handlers.cli.bitrix",
    "serve": "handlers.cli.serve",
}


def _build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helpbot", description="Bitrix24 help-desk assistant: knowledge base, chat, operators."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    command = next((a for a in argv if not a.startswith("-")), None)
    wanted = _MODULE_OF.get(command or "")
    for name in (wanted,) if wanted else _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser(arguments)
    args = parser.parse_args(arguments)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
