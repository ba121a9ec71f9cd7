"""The `helpbot` command line: one sub-command per adapter module; `python -m bot` is the same."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from handlers.cli.guard import run_guarded
from handlers.cli.preflight import check_knowledge_dir
from handlers.cli.version import show_version

# Each module exposes ``register(subparsers)``; its sub-commands set ``func(args) -> int``.
_COMMAND_MODULES = (
    "handlers.cli.ask",
    "handlers.cli.chat",
    "handlers.cli.operator",
    "handlers.cli.db",
    "handlers.cli.report",
    "handlers.cli.bitrix",
    "handlers.cli.serve",
    "handlers.cli.doctor",
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
    "doctor": "handlers.cli.doctor",
}
# Terminal lines are for people: "warning: skipped x.md: no title" (-v adds time and logger).
_TERMINAL_LOG_FORMAT = "%(levelname)s: %(message)s"
_VERBOSE_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helpbot", description="Bitrix24 help-desk assistant: knowledge base, chat, operators."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--version", action="store_true", help="print the version (with -v: where data lives)"
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = next((a for a in argv if not a.startswith("-")), None)
    wanted = _MODULE_OF.get(command or "")
    if command is None and "--version" in argv:
        return parser  # no command module to import
    for name in (wanted,) if wanted else _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    return run_guarded(lambda: _main(arguments), debug="--debug" in arguments)


def _main(arguments: list[str]) -> int:
    parser = _build_parser(arguments)
    args = parser.parse_args(arguments)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format=_VERBOSE_LOG_FORMAT if args.verbose else _TERMINAL_LOG_FORMAT,
        stream=sys.stderr,
    )
    if args.version:
        return show_version(args.verbose)
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    check_knowledge_dir(args)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
