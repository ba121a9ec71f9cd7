"""Changing the knowledge base without a restart, on every replica.

A reload builds the whole next base in a thread beside the one in use and swaps it in at once
(:class:`knowledge.holder.KnowledgeHolder`): a question in flight finishes on the base it began
with, a broken company file is skipped and reported as at start, and a rebuild that fails keeps
the base in use. A reload asked anywhere (``helpbot kb reload``, SIGHUP, a changed file under
KNOWLEDGE_DIR) is recorded as a row of ``kb_reloads``, and the transaction that stores it wakes
every server's reloader (:mod:`bot.storage.wakeup`: a notification on PostgreSQL, the doorbell
file on SQLite); a woken reloader looks for a newer row and reloads on seeing one, so all
replicas follow. With nothing rung it looks every KB_SYNC_SECONDS anyway (the safety net).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.storage import knowledge as rows
from bot.storage import wakeup
from bot.storage.db import reading
from knowledge.errors import KnowledgeError
from knowledge.holder import KnowledgeHolder, KnowledgeVersion, build
from knowledge.loader import fingerprint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: ``ok`` (the new base is in use) or the ``error`` that kept the old one;
    ``version`` is the base in use afterwards, ``previous`` the one before."""

    ok: bool
    version: KnowledgeVersion
    previous: KnowledgeVersion
    error: str = ""


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a base is built from: the company folder and the key cache."""

    knowledge_dir: Path | None
    cache_dir: Path | None


class KnowledgeReloader:
    """Reloads the base in ``holder``, asks the other replicas to, and follows their asks.

    :meth:`run` (one app-owned task) follows the database and serves :meth:`ask` (safe to call
    from a signal handler); :meth:`watch` (another, with KB_WATCH) asks when files change.
    """

    def __init__(
        self,
        holder: KnowledgeHolder,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        sources: Sources,
        *,
        name: str,
        sync_seconds: float = 60.0,
    ) -> None:
        self.holder = holder
        self._sessions = sessions
        self._clock = clock
        self._sources = sources
        self._name = name
        self._sync_seconds = sync_seconds
        self._lock = asyncio.Lock()
        self._seen = 0  # the newest kb_reloads row this process has acted on
        self._asked: list[str] = []
        self._wake = asyncio.Event()

    async def reload(self, reason: str) -> ReloadResult:
        """Build the next base and put it in use here (one reload at a time)."""
        async with self._lock:
            previous = self.holder.version
            try:
                async with self._sessions() as session:
                    phrasings = await rows.approved_phrasings(session)
                if (folder := self._sources.knowledge_dir) is not None and not folder.is_dir():
                    raise KnowledgeError(f"articles folder not found: {folder}")
                kb, version = await asyncio.to_thread(
                    build,
                    self._sources.knowledge_dir,
                    self._sources.cache_dir,
                    self._clock.now(),
                    phrasings,
                )
            except Exception as exc:  # any failure of a rebuild keeps the base in use
                log.error(
                    "knowledge base reload failed reason=%s, still using version %s: %s",
                    reason,
                    previous.hash,
                    exc,
                )
                return ReloadResult(False, previous, previous, str(exc) or type(exc).__name__)
            self.holder.swap(kb, version)
        log.info(
            "knowledge base reloaded reason=%s version=%s (was %s) entries=%d skipped=%d",
            reason,
            version.hash,
            previous.hash,
            version.entries,
            len(version.skipped),
        )
        return ReloadResult(True, version, previous)

    async def announce(self, reason: str) -> ReloadResult:
        """Reload here and ask every other replica to (a failed ask is logged: this one still
        reloads)."""
        try:
            async with self._sessions.begin() as session:
                number = await rows.request_reload(
                    session, f"{self._name}: {reason}", self._clock.now()
                )
            self._seen = max(self._seen, number)
        except Exception as exc:  # driver errors differ per dialect
            log.warning("cannot ask the other replicas to reload: %s", type(exc).__name__)
        return await self.reload(reason)

    def ask(self, reason: str) -> None:
        """Ask :meth:`run` to :meth:`announce` a reload soon (from a signal handler too)."""
        self._asked.append(reason)
        self._wake.set()

    async def start(self) -> None:
        """Remember the newest reload asked so far: the base just loaded already has it."""
        async with self._sessions() as session:
            self._seen = await rows.last_reload(session)

    async def run(self) -> None:
        """Serve :meth:`ask` and follow reloads asked elsewhere, until cancelled."""
        with wakeup.listening(self._sessions, wakeup.KB, self._wake.set):
            await self._run()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sync_seconds):
                    await self._wake.wait()
            self._wake.clear()
            if self._asked:
                reason = ", ".join(dict.fromkeys(self._asked))
                self._asked.clear()
                await self.announce(reason)
            else:
                await self.follow()

    async def follow(self) -> ReloadResult | None:
        """Reload when another replica (or `helpbot kb reload`) asked since the last look."""
        try:
            async with reading(self._sessions) as session:  # a read: no write lock every look
                newest = await rows.last_reload(session)
        except Exception as exc:  # the database may be away for a while: look again later
            log.warning("cannot look for knowledge base reloads: %s", type(exc).__name__)
            return None
        if newest <= self._seen:
            return None
        self._seen = newest
        return await self.reload(f"asked elsewhere (#{newest})")

    async def watch(self, every: float) -> None:
        """Ask for a reload when the files under KNOWLEDGE_DIR differ from those the base in use
        was read from, once they have stayed the same for one more look (an editor saving
        several files makes one reload; a reload asked elsewhere makes none here)."""
        folder = self._sources.knowledge_dir
        seen = asked = ""
        while True:
            await asyncio.sleep(every)
            files = await asyncio.to_thread(fingerprint, folder)
            if files == self.holder.version.files or files != seen:
                seen = files
            elif files != asked:  # once per state of the files: a failed reload is not looped
                asked = files
                self.ask("files changed")
