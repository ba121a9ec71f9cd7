"""`helpbot kb reload`: ask every running server to reload the knowledge base (through the
database), after checking here what they will load; `kb suggestions`, `kb approve` and
`kb reject`: phrasings learned from conversations, for a person to review. The commands live
in kb_commands.py, imported only when one runs (they need the database)."""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from handlers.cli._runner import run


def add_parsers(kb_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reload = kb_sub.add_parser(
        "reload",
        help="reload the knowledge base in every running `helpbot serve` (no restart)",
    )
    reload.set_defaults(func=lambda a: run(_commands().reload(a)))
    listing = kb_sub.add_parser(
        "suggestions",
        help="new phrasings of entries learned from «did you mean» picks, for review",
    )
    listing.add_argument("--min-count", type=int, default=1, help="asked at least this often")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=lambda a: run(_commands().suggestions(a)))
    for name, status, what in (
        ("approve", "approved", "add a phrasing to an entry (from the next reload)"),
        ("reject", "rejected", "never suggest this phrasing for the entry again"),
    ):
        verdict = kb_sub.add_parser(name, help=what)
        verdict.add_argument("entry_id")
        verdict.add_argument("question", help="the phrasing, as `kb suggestions` shows it")
        if name == "approve":
            verdict.add_argument("--reload", action="store_true", help="then `kb reload`")
        verdict.set_defaults(func=lambda a, s=status: run(_commands().verdict(a, s)))


def _commands() -> ModuleType:
    return importlib.import_module("handlers.cli.kb_commands")
