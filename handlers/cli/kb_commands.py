"""What `helpbot kb reload|suggestions|approve|reject` do (their parsers: kb_ops.py, which loads
this module only when one of them runs, so that `helpbot ask` does not import the database)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import learning
from bot.app import build
from bot.storage import knowledge as rows
from bot.storage.claims import default_replica
from bot.storage.models import PhrasingStatus
from handlers.cli._runner import settings_or_exit
from handlers.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.errors import KnowledgeError
from knowledge.holder import content_hash
from knowledge.loader import Corpus, load_corpus


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of the configured database, which must be at the code's schema."""
    async with build(settings) as app:
        yield (await app.database()).sessions


async def _corpus(sessions: async_sessionmaker[AsyncSession], folder: Path | None) -> Corpus:
    """The corpus with the approved phrasings, as a server loads it."""
    async with sessions() as session:
        phrasings = await rows.approved_phrasings(session)
    return load_corpus(folder, phrasings=phrasings)


async def reload(_args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    folder = settings.knowledge_dir
    if folder is not None and not folder.is_dir():
        raise KnowledgeError(f"articles folder not found: {folder}; servers keep what they have")
    async with _database(settings) as sessions:
        corpus = await _corpus(sessions, folder)  # as the servers will read it
        for error in corpus.errors:
            print(f"skipped {error.path}: {error.reason}", file=sys.stderr)
        async with sessions.begin() as session:
            by = f"helpbot kb reload ({default_replica()})"
            number = await rows.request_reload(session, by, datetime.now(UTC))
    print(
        f"reload #{number} asked: every server loads version {content_hash(corpus.entries)} "
        f"({len(corpus.entries)} entries, {len(corpus.errors)} file(s) skipped) now, at the "
        f"latest within KB_SYNC_SECONDS ({settings.kb.sync_seconds:g}s); /readyz shows each "
        f"one's version"
    )
    return 0


async def suggestions(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    async with _database(settings) as sessions:
        corpus = await _corpus(sessions, settings.knowledge_dir)
        kb = KnowledgeBase.from_corpus(corpus, settings.knowledge_cache_dir)
        found = await learning.suggestions(sessions, kb, min_count=args.min_count)
    if args.json:
        print(json.dumps([_suggestion_json(s) for s in found], ensure_ascii=False, indent=2))
        return 0
    for suggestion in found:
        print(f"{suggestion.count:>4}  {suggestion.title}  [{suggestion.entry_id}]")
        for v in suggestion.variants:
            seen = f"{v.first:%Y-%m-%d}..{v.last:%Y-%m-%d}"
            how = f"{v.confirmed} helped, {v.resolved} by operators"
            print(f"      {v.count:>3} ({how})  {v.text[:100]}  {seen}")
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
                "resolved": v.resolved,
                "first": v.first.isoformat(),
                "last": v.last.isoformat(),
            }
            for v in s.variants
        ],
    }


async def verdict(args: argparse.Namespace, status_name: str) -> int:
    settings = settings_or_exit()
    status = PhrasingStatus(status_name)
    question = " ".join(args.question.split())
    if not question:
        raise KnowledgeError("the phrasing is empty")
    ids = {e.id for e in load_corpus(settings.knowledge_dir).entries}
    if args.entry_id not in ids:
        raise KnowledgeError(f"no entry {args.entry_id!r} in the knowledge base (kb list)")
    async with _database(settings) as sessions, sessions.begin() as session:
        now = datetime.now(UTC)
        by = f"helpbot kb {status.value} ({default_replica()})"
        await rows.decide_phrasing(session, args.entry_id, question, status, by, now)
    print(f"{status.value}: {question!r} for {args.entry_id}")
    if getattr(args, "reload", False):
        return await reload(args)
    if status is PhrasingStatus.APPROVED:
        print("it is matched from the next reload: helpbot kb reload")
    return 0
