"""`helpbot ask` and `helpbot kb`: the knowledge engine from the terminal."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from bot.replies import Reply, choice_entries, choose_language, compose
from bot.settings import SettingsError
from bot.texts import phrase
from handlers.cli import kb_explain, kb_link, kb_ops
from handlers.settings import load_settings
from knowledge.base import KnowledgeBase
from knowledge.errors import KnowledgeError
from knowledge.loader import Corpus, load_corpus
from knowledge.model import Action, Decision

# A batch line longer than this is cut: one question is never a book.
MAX_LINE_CHARS = 100_000
# The exit code of a filter whose reader went away (128 + SIGPIPE), as `cat` would report it.
EXIT_CLOSED_PIPE = 141

Command = Callable[[argparse.Namespace], int]


def _guarded(command: Command) -> Command:
    """Our errors become one line on stderr; a closed pipe (`... | head`) ends quietly."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (KnowledgeError, SettingsError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_CLOSED_PIPE

    return run


def _silence_stdout() -> None:
    # Python flushes stdout once more at exit; pointing it at /dev/null keeps that flush from
    # failing with a second BrokenPipeError.
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ask = sub.add_parser("ask", help="answer one question, or a batch from standard input")
    ask.add_argument("question", help='the question; "-" reads one question per line from stdin')
    ask.add_argument("--json", action="store_true", help="print JSON (one line per question)")
    ask.add_argument("--knowledge-dir", type=Path, help="company articles (default KNOWLEDGE_DIR)")
    ask.set_defaults(func=_guarded(_run_ask))

    kb = sub.add_parser("kb", help="inspect the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND", required=True)
    stats = kb_sub.add_parser("stats", help="counts of articles, sections and fields")
    stats.add_argument("--knowledge-dir", type=Path)
    stats.set_defaults(func=_guarded(_run_stats))
    show = kb_sub.add_parser("show", help="print one cleaned entry")
    show.add_argument("entry_id")
    show.add_argument("--knowledge-dir", type=Path)
    show.set_defaults(func=_guarded(_run_show))
    listing = kb_sub.add_parser("list", help="ids and titles of every entry")
    listing.add_argument("--knowledge-dir", type=Path)
    listing.set_defaults(func=_guarded(_run_list))
    kb_link.add_parser(kb_sub)
    kb_explain.add_parsers(kb_sub)
    kb_ops.add_parsers(kb_sub)


def _knowledge_dir(args: argparse.Namespace) -> Path | None:
    if args.knowledge_dir is not None:
        return Path(args.knowledge_dir)
    return load_settings().knowledge_dir


def _corpus(args: argparse.Namespace) -> Corpus:
    return load_corpus(_knowledge_dir(args))  # the loader logs each skipped file, once


def _run_ask(args: argparse.Namespace) -> int:
    settings = load_settings()
    kb = KnowledgeBase.from_corpus(_corpus(args), settings.knowledge_cache_dir)
    public_url = settings.kb.public_url
    if args.question != "-":
        return _answer_one(kb, args.question, args.json, sys.stdout, public_url)
    for line in _stdin_lines():
        _answer_one(kb, line, args.json, sys.stdout, public_url)
        sys.stdout.flush()
    return 0


def _stdin_lines() -> Iterator[str]:
    """Lines of standard input as text, whatever bytes arrive (bad UTF-8 is replaced)."""
    stream = sys.stdin.buffer
    for raw in stream:
        yield (
            raw[: MAX_LINE_CHARS * 4]
            .decode("utf-8", errors="replace")[:MAX_LINE_CHARS]
            .strip("\r\n")
        )


def _answer_one(
    kb: KnowledgeBase, question: str, as_json: bool, out: TextIO, public_url: str = ""
) -> int:
    question = _clean(question)
    if not question:
        decision = None
        text = phrase("empty", "ru")
    else:
        decision = kb.decide(question)
        lang = choose_language(None, decision.lang, "ru")
        text = render_plain(ask_reply(decision, lang, public_url))
    if as_json:
        print(json.dumps(_as_json(decision, text), ensure_ascii=False), file=out)
    else:
        print(text, file=out)
    return 0 if question else 1


def _clean(text: str) -> str:
    """Printable text only: control characters and NULs from binary junk become spaces."""
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return " ".join(cleaned.split())


def _as_json(decision: Decision | None, text: str) -> dict[str, Any]:
    if decision is None:
        return {"action": "escalate", "text": text, "matches": []}
    return {
        "action": decision.action.value,
        "text": text,
        "confidence": round(decision.confidence, 4),
        "matches": [
            {
                "id": m.entry.id,
                "title": m.entry.title,
                "url": m.entry.url,
                "breadcrumb": list(m.entry.breadcrumb),
                "score": m.score,
            }
            for m in decision.matches[:5]
        ],
    }


def ask_reply(decision: Decision, lang: str, public_url: str = "") -> Reply:
    """The bot's reply with nothing to press (one question, one answer): the choices of a
    «did you mean» are titles to ask with, and an operator is for `helpbot chat`."""
    if decision.action is Action.CLARIFY and decision.matches:
        titles = "\n".join(f"• {entry.title}" for entry in choice_entries(decision))
        return Reply((phrase("clarify_intro", lang), titles, phrase("cli_ask_choose", lang)))
    if decision.action is Action.ESCALATE:
        return Reply((phrase("cli_ask_escalate", lang),))
    if decision.action is Action.OPERATOR:
        return Reply((phrase("cli_ask_operator", lang),))
    return dataclasses.replace(compose(decision, lang, public_url=public_url), buttons=())


def render_plain(reply: Reply) -> str:
    """A reply as a person reads it in a terminal: title, text, links (buttons are not shown:
    nothing can be pressed here)."""
    parts: list[str] = []
    if reply.title:
        parts.append(reply.title.upper())
    parts.extend(reply.blocks)
    parts.extend(f"{link.title}: {link.url}" for link in reply.links)
    return "\n\n".join(p for p in parts if p)


def _run_stats(args: argparse.Namespace) -> int:
    corpus = _corpus(args)
    for name, value in corpus.stats().items():
        print(f"{name:<24} {value}")
    return 0


def _run_show(args: argparse.Namespace) -> int:
    corpus = _corpus(args)
    entry = next((e for e in corpus.entries if e.id == args.entry_id), None)
    if entry is None:
        print(f"no entry with id {args.entry_id!r}; `helpbot kb list` shows them", file=sys.stderr)
        return 1
    print(f"id:         {entry.id}\ntitle:      {entry.title}\nsource:     {entry.source}")
    print(f"kind:       {entry.kind}\nurl:        {entry.url or '-'}")
    print(f"breadcrumb: {' > '.join(entry.breadcrumb) or '-'}\npath:       {entry.path or '-'}")
    if entry.questions:
        print("questions:  " + " | ".join(entry.questions))
    if entry.summary:
        print(f"\nsummary:\n{entry.summary}")
    if entry.steps:
        print("\nsteps:\n" + "\n".join(f"{n}. {s}" for n, s in enumerate(entry.steps, 1)))
    print(f"\nbody:\n{entry.body}")
    return 0


def _run_list(args: argparse.Namespace) -> int:
    for entry in _corpus(args).entries:
        print(f"{entry.id}\t{entry.title}")
    return 0
