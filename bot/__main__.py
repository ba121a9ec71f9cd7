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


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helpbot", description="Bitrix24 help-desk assistant: knowledge base, chat, operators."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
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
