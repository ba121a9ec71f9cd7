"""`helpbot kb reload`: ask every running server to reload the knowledge base (through the
database), after checking here what they will load; `kb suggestions`, `kb approve` and
`kb reject`: phrasings learned from conversations, for a person to review."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from bot import learning
from bot.app import prepare_database
from bot.storage import knowledge as rows
from bot.storage.db import create_engine, create_sessionmaker, database_url
from bot.storage.delivery import default_replica
from bot.storage.models import PhrasingStatus
from handlers.cli._runner import run, settings_or_exit
from knowledge.base import KnowledgeBase
from knowledge.errors import KnowledgeError
from knowledge.holder import content_hash
from knowledge.loader import load_corpus


def add_parsers(kb_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reload = kb_sub.add_parser(
        "reload",
        help="reload the knowledge base in every running `helpbot serve` (no restart)",
    )
    reload.set_defaults(func=lambda a: run(_reload(a)))
    listing = kb_sub.add_parser(
        "suggestions",
        help="new phrasings of entries learned from «did you mean» picks, for review",
    )
    listing.add_argument("--min-count", type=int, default=1, help="asked at least this often")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=lambda a: run(_suggestions(a)))
    for name, status, what in (
        ("approve", PhrasingStatus.APPROVED, "add a phrasing to an entry (from the next reload)"),
        ("reject", PhrasingStatus.REJECTED, "never suggest this phrasing for the entry again"),
    ):
        verdict = kb_sub.add_parser(name, help=what)
        verdict.add_argument("entry_id")
        verdict.add_argument("question", help="the phrasing, as `kb suggestions` shows it")
        if status is PhrasingStatus.APPROVED:
            verdict.add_argument("--reload", action="store_true", help="then `kb reload`")
        verdict.set_defaults(func=lambda a, s=status: run(_verdict(a, s)))


async def _reload(_args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    folder = settings.knowledge_dir
    if folder is not None and not folder.is_dir():
        raise KnowledgeError(f"articles folder not found: {folder}; servers keep what they have")
    db = create_engine(database_url(settings.database))
    try:
        await prepare_database(db, upgrade=False)
        sessions = create_sessionmaker(db)
        async with sessions() as session:
            phrasings = await rows.approved_phrasings(session)
        corpus = load_corpus(folder, phrasings=phrasings)  # the servers will read the same
        for error in corpus.errors:
            print(f"skipped {error.path}: {error.reason}", file=sys.stderr)
        async with sessions.begin() as session:
            by = f"helpbot kb reload ({default_replica()})"
            number = await rows.request_reload(session, by, datetime.now(UTC))
    finally:
        await db.dispose()
    print(
        f"reload #{number} asked: every server loads version {content_hash(corpus.entries)} "
        f"({len(corpus.entries)} entries, {len(corpus.errors)} file(s) skipped) within "
        f"KB_SYNC_SECONDS ({settings.kb.sync_seconds:g}s); /readyz shows each one's version"
    )
    return 0


async def _suggestions(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    db = create_engine(database_url(settings.database))
    try:
        await prepare_database(db, upgrade=False)
        sessions = create_sessionmaker(db)
        async with sessions() as session:
            phrasings = await rows.approved_phrasings(session)
        corpus = load_corpus(settings.knowledge_dir, phrasings=phrasings)
        kb = KnowledgeBase.from_corpus(corpus, settings.knowledge_cache_dir)
        found = await learning.suggestions(sessions, kb, min_count=args.min_count)
    finally:
        await db.dispose()
    if args.json:
        print(json.dumps([_suggestion_json(s) for s in found], ensure_ascii=False, indent=2))
        return 0
    for suggestion in found:
        print(f"{suggestion.count:>4}  {suggestion.title}  [{suggestion.entry_id}]")
        for v in suggestion.variants:
            seen = f"{v.first:%Y-%m-%d}..{v.last:%Y-%m-%d}"
            print(f"      {v.count:>3} ({v.confirmed} helped)  {v.text[:100]}  {seen}")
    print(
        f"{len(found)} entr{'y' if len(found) == 1 else 'ies'} with suggestions; "
        'review each: helpbot kb approve|reject ENTRY_ID "phrasing"'
    )
    return 0


def _suggestion_json(s: learning.Suggestion) -> dict[str, Any]:
    return {
        "entry_id": s.entry_id,
        "title": s.title,
        "count": s.count,
        "variants": [
            {
                "text": v.text,
                "count": v.count,
                "confirmed": v.confirmed,
                "first": v.first.isoformat(),
                "last": v.last.isoformat(),
            }
            for v in s.variants
        ],
    }


async def _verdict(args: argparse.Namespace, status: PhrasingStatus) -> int:
    settings = settings_or_exit()
    question = " ".join(args.question.split())
    if not question:
        raise KnowledgeError("the phrasing is empty")
    ids = {e.id for e in load_corpus(settings.knowledge_dir).entries}
    if args.entry_id not in ids:
        raise KnowledgeError(f"no entry {args.entry_id!r} in the knowledge base (kb list)")
    db = create_engine(database_url(settings.database))
    try:
        await prepare_database(db, upgrade=False)
        async with create_sessionmaker(db).begin() as session:
            now = datetime.now(UTC)
            by = f"helpbot kb {status.value} ({default_replica()})"
            await rows.decide_phrasing(session, args.entry_id, question, status, by, now)
    finally:
        await db.dispose()
    print(f"{status.value}: {question!r} for {args.entry_id}")
    if getattr(args, "reload", False):
        return await _reload(args)
    if status is PhrasingStatus.APPROVED:
        print("it is matched from the next reload: helpbot kb reload")
    return 0
