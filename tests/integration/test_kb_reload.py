"""Reloading the knowledge base in a running process: a new base is built beside the one in use
and swapped in whole; broken files are skipped, a failed rebuild keeps the base in use, questions
asked meanwhile all get answers, and a reload asked on one replica reaches the others through the
database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from deadline import until
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import app as root
from bot.clock import SystemClock
from bot.engine import ConversationEngine, EngineSettings, Incoming, Say
from bot.knowledge_sync import KnowledgeReloader, Sources
from bot.settings import DatabaseSettings
from bot.storage import knowledge as rows
from bot.storage import wakeup
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import PhrasingStatus
from handlers.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, KnowledgeVersion, build
from knowledge.loader import fingerprint, load_corpus
from knowledge.model import Action

CACHE = Path(__file__).parents[2] / "var" / "cache"
QUESTION = "Как оформить отпуск в компании Ромашка"
OLD_WORD, NEW_WORD = "Кадры", "Персонал"
ARTICLE = """---
title: Как оформить отпуск в компании Ромашка
questions:
  - заявление на отпуск
---
Отпуск оформляется в разделе {word}: заявление подписывает руководитель.
"""


def _write(folder: Path, word: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "vacation.md").write_text(ARTICLE.format(word=word), encoding="utf-8")


def _answer_text(holder: KnowledgeHolder) -> str:
    decision = holder.current.decide(QUESTION)
    assert decision.action is Action.ANSWER and decision.answer is not None
    return " ".join(decision.answer.blocks)


_FIRST_BASES: dict[tuple[tuple[str, bytes], ...], tuple[KnowledgeBase, KnowledgeVersion]] = {}


def _first_base(folder: Path) -> tuple[KnowledgeBase, KnowledgeVersion]:
    """What :func:`build` makes of ``folder`` now, for a reloader's first base: built once per
    content of the folder in this module (~0.4 s of CPU a build, the shipped corpus included;
    a base is read-only once built), the version's time and files fingerprint this folder's.
    Every reload still builds its own base."""
    content = tuple(
        (path.relative_to(folder).as_posix(), path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    )
    if content not in _FIRST_BASES:
        _FIRST_BASES[content] = build(folder, CACHE, None)
    kb, version = _FIRST_BASES[content]
    return kb, replace(version, loaded_at=SystemClock().now(), files=fingerprint(folder))


def _reloader(
    folder: Path, sessions: async_sessionmaker[AsyncSession], name: str, sync: float = 0.05
) -> KnowledgeReloader:
    holder = KnowledgeHolder(*_first_base(folder))
    sources = Sources(folder, CACHE)
    return KnowledgeReloader(holder, sessions, SystemClock(), sources, name=name, sync_seconds=sync)


async def test_a_reload_swaps_the_base_and_a_held_one_stays_as_it_was(
    tmp_path: Path, db: AsyncEngine
) -> None:
    folder = tmp_path / "articles"
    _write(folder, OLD_WORD)
    reloader = _reloader(folder, create_sessionmaker(db), "one")
    before, version = reloader.holder.snapshot()
    assert OLD_WORD in _answer_text(reloader.holder)

    _write(folder, NEW_WORD)
    result = await reloader.announce("test")

    assert result.ok and result.previous == version
    assert result.version.hash != version.hash and reloader.holder.version == result.version
    assert NEW_WORD in _answer_text(reloader.holder)
    # A question that took the old base before the swap finishes on it.
    answer = before.decide(QUESTION).answer
    assert answer is not None and OLD_WORD in " ".join(answer.blocks)


async def test_a_broken_file_is_skipped_and_a_failed_rebuild_keeps_the_base(
    tmp_path: Path, db: AsyncEngine
) -> None:
    folder = tmp_path / "articles"
    _write(folder, OLD_WORD)
    reloader = _reloader(folder, create_sessionmaker(db), "one")
    (folder / "broken.md").write_bytes(b"\x00\x01binary")

    result = await reloader.reload("broken file")
    assert result.ok and result.version.skipped == ("broken.md: binary file",)
    assert OLD_WORD in _answer_text(reloader.holder)

    kept = reloader.holder.current
    folder.rename(tmp_path / "moved")
    failed = await reloader.reload("folder gone")
    assert not failed.ok and "articles folder not found" in failed.error
    assert reloader.holder.current is kept and failed.version == result.version


async def test_a_reload_asked_on_one_replica_reaches_the_other(
    tmp_path: Path, db: AsyncEngine
) -> None:
    folder = tmp_path / "articles"
    _write(folder, OLD_WORD)
    sessions = create_sessionmaker(db)
    one, two = _reloader(folder, sessions, "one"), _reloader(folder, sessions, "two")
    await one.start()
    await two.start()
    assert await two.follow() is None  # nothing asked yet

    _write(folder, NEW_WORD)
    await one.announce("edited")
    followed = await two.follow()

    assert followed is not None and followed.ok
    assert two.holder.version.hash == one.holder.version.hash
    assert NEW_WORD in _answer_text(two.holder)
    assert await two.follow() is None  # once per ask
    assert await one.follow() is None  # the asker does not reload its own ask again

    # `helpbot kb reload` only writes the row: both follow it.
    async with sessions.begin() as session:
        await rows.request_reload(session, "cli", SystemClock().now())
    assert (await one.follow()) is not None and (await two.follow()) is not None


async def test_a_reload_asked_in_another_process_wakes_the_reloader_at_once(
    tmp_path: Path, db: AsyncEngine, db_url: str
) -> None:
    folder = tmp_path / "articles"
    _write(folder, OLD_WORD)
    # Its own look comes hourly: a reload within the (generous) deadline below was woken. The
    # deadline itself is no measure of "at once": a rebuild takes ~1 s alone, several under load.
    reloader = _reloader(folder, create_sessionmaker(db), "server", sync=3600.0)
    await reloader.start()
    elsewhere = create_engine(db_url)  # `helpbot kb reload`, as far as waking goes
    follow = asyncio.create_task(wakeup.follow(db, tick=0.1))
    run = asyncio.create_task(reloader.run())
    try:
        await until(lambda: wakeup.following(db), "listening to the other processes")
        _write(folder, NEW_WORD)
        async with create_sessionmaker(elsewhere).begin() as session:
            await rows.request_reload(session, "cli", SystemClock().now())
        # A notification (PostgreSQL) or the doorbell (SQLite): not the hourly look.
        await until(lambda: NEW_WORD in _answer_text(reloader.holder), "reloaded", 120)
    finally:
        for task in (run, follow):
            task.cancel()
        await asyncio.gather(run, follow, return_exceptions=True)
        await elsewhere.dispose()


async def test_questions_asked_during_reloads_all_get_answers(
    tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    folder = tmp_path / "articles"
    _write(folder, OLD_WORD)
    reloader = _reloader(folder, sessions, "one")
    config = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = ConversationEngine(
        reloader.holder,
        sessions,
        SystemClock(),
        EngineSettings(config.conversation, config.hours),
    )
    words: list[str] = []

    async def ask(n: int) -> None:
        out = await engine.handle(Incoming("test", f"chat-{n}", f"person-{n}", QUESTION))
        replies = [o.reply for o in out if isinstance(o, Say)]
        assert replies, f"question {n} got no reply"
        text = " ".join(" ".join(r.blocks) for r in replies)
        words.append(NEW_WORD if NEW_WORD in text else OLD_WORD if OLD_WORD in text else "?")

    async def stream() -> None:
        n = 0
        while reloader.holder.version.hash == first or n < 5:
            await ask(n)
            n += 1
        for m in range(n, n + 5):  # and a few after the swap
            await ask(m)

    first = reloader.holder.version.hash
    _write(folder, NEW_WORD)
    results = await asyncio.gather(stream(), reloader.reload("during questions"))

    assert results[1].ok
    assert "?" not in words and words[0] == OLD_WORD and words[-5:] == [NEW_WORD] * 5


async def test_the_watcher_reloads_once_the_files_have_changed(
    tmp_path: Path, db: AsyncEngine
) -> None:
    folder = tmp_path / "articles"
    _write(folder, OLD_WORD)
    reloader = _reloader(folder, create_sessionmaker(db), "one")
    first = reloader.holder.version.hash
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(reloader.run()), group.create_task(reloader.watch(0.05))]
        try:
            _write(folder, NEW_WORD)
            await until(lambda: reloader.holder.version.hash != first, "a reload after an edit", 60)
            assert NEW_WORD in _answer_text(reloader.holder)
        finally:
            for task in tasks:
                task.cancel()


async def test_services_start_with_the_approved_phrasings(
    tmp_path: Path, db_url: str, db: AsyncEngine
) -> None:
    folder = tmp_path / "articles"
    _write(folder, OLD_WORD)
    (entry,) = [e for e in load_corpus(folder).entries if e.source == "vacation.md"]
    async with create_sessionmaker(db).begin() as session:
        await rows.decide_phrasing(
            session,
            entry.id,
            "полосатая лошадка",
            PhrasingStatus.APPROVED,
            "t",
            SystemClock().now(),
        )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database=DatabaseSettings(url=db_url),
        knowledge_dir=folder,
        knowledge_cache_dir=CACHE,
    )
    async with root.build(settings) as app:
        services = await app.services()
        learned = services.kb.get(entry.id)
        assert learned is not None and "полосатая лошадка" in learned.questions
        assert services.knowledge.version.loaded_at is not None
