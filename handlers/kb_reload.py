"""Reloading the knowledge base in the running web app: the reloader's workers (following other
replicas; watching KNOWLEDGE_DIR with KB_WATCH) live and die with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from bot.app import Services
from bot.knowledge_sync import KnowledgeReloader, Sources
from bot.storage.delivery import default_replica
from bot.supervise import supervise

log = logging.getLogger(__name__)

RELOADER = web.AppKey("knowledge_reloader", KnowledgeReloader)
RESTART_MAX = 30.0  # seconds between restarts of a crashed worker, at most


def setup_reload(app: web.Application, services: Services) -> KnowledgeReloader:
    """Add the reloader to ``app`` (``app[RELOADER]``; SIGHUP calls its ``ask``)."""
    settings = services.settings
    reloader = KnowledgeReloader(
        services.knowledge,
        services.sessions,
        services.clock,
        Sources(settings.knowledge_dir, settings.knowledge_cache_dir),
        name=settings.replica.id or default_replica(),
        sync_seconds=settings.kb.sync_seconds,
    )
    app[RELOADER] = reloader
    watch = settings.kb.watch_seconds if settings.kb.watch and settings.knowledge_dir else None

    async def life(_app: web.Application) -> AsyncIterator[None]:
        with contextlib.suppress(Exception):  # no database yet: every reload from now counts
            await reloader.start()
        workers = [asyncio.create_task(_supervise("follow", reloader.run), name="kb-follow")]
        if watch is not None:
            log.info("watching %s for changes every %.1fs", settings.knowledge_dir, watch)
            work = _supervise("watch", lambda: reloader.watch(watch))
            workers.append(asyncio.create_task(work, name="kb-watch"))
        try:
            yield
        finally:
            for task in workers:  # owned: cancelled and awaited here
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.cleanup_ctx.append(life)
    return reloader


async def _supervise(name: str, work: Callable[[], Awaitable[None]]) -> None:
    await supervise(f"knowledge {name}", work, max_pause=RESTART_MAX)
