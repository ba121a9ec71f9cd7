"""`helpbot kb reload`: ask every running server to reload the knowledge base (through the
database), after checking here what they will load."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bot.app import prepare_database
from bot.storage import knowledge as rows
from bot.storage.db import create_engine, create_sessionmaker, database_url
from bot.storage.delivery import default_replica
from handlers.cli._runner import run, settings_or_exit
from knowledge.errors import KnowledgeError
from knowledge.holder import content_hash
from knowledge.loader import load_corpus


def add_parsers(kb_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reload = kb_sub.add_parser(
        "reload",
        help="reload the knowledge base in every running `helpbot serve` (no restart)",
    )
    reload.set_defaults(func=lambda a: run(_reload(a)))


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
