"""Reloading the knowledge base in the running web app: the reloader's workers (following other
replicas; watching KNOWLEDGE_DIR with KB_WATCH) live and die with the app."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.knowledge_sync import KnowledgeReloader, Sources
from bot.services import Services
from bot.storage.claims import default_replica

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
        workers = services.workers
        workers.start("knowledge follow", reloader.run, max_pause=RESTART_MAX)
        if watch is not None:
            log.info("watching %s for changes every %.1fs", settings.knowledge_dir, watch)
            workers.start("knowledge watch", lambda: reloader.watch(watch), max_pause=RESTART_MAX)
        try:
            yield
        finally:
            await workers.stop("knowledge ")

    app.cleanup_ctx.append(life)
    return reloader
