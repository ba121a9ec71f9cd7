"""Checks a command makes before it starts: a KNOWLEDGE_DIR that does not exist is an error for
the commands that answer from the knowledge base (a misspelt folder must not go unnoticed)."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

from bot.settings import SettingsError
from handlers.settings import load_settings

__all__ = ["KNOWLEDGE_COMMANDS", "check_knowledge_dir", "knowledge_dir_problem"]

KNOWLEDGE_COMMANDS = frozenset({"ask", "kb", "chat", "serve"})


def check_knowledge_dir(args: argparse.Namespace) -> None:
    """Raise :class:`SettingsError` when the articles folder the command would read is missing."""
    if args.command not in KNOWLEDGE_COMMANDS:
        return
    folder: Path | None = getattr(args, "knowledge_dir", None)
    name = "--knowledge-dir"
    if folder is None:
        folder, name = load_settings().knowledge_dir, "KNOWLEDGE_DIR"
    problem = knowledge_dir_problem(folder) if folder is not None else ""
    if problem:
        raise SettingsError(f"{name}={folder}: {problem}")


def knowledge_dir_problem(folder: Path) -> str:
    """``""`` when ``folder`` is a folder, else what is wrong (with a near name, if one exists)."""
    if folder.is_dir():
        return ""
    if folder.exists():
        return "not a folder"
    parent = folder.parent
    try:
        siblings = [p.name for p in parent.iterdir() if p.is_dir()] if parent.is_dir() else []
    except OSError:
        siblings = []
    near = difflib.get_close_matches(folder.name, siblings, n=1, cutoff=0.6)
    hint = f" (did you mean {parent / near[0]}?)" if near else ""
    return f"no such folder{hint}"
