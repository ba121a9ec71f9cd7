"""The project's one aiohttp application: the channels the composition root (:mod:`bot.app`)
mounts, the help center (``/kb/``), and the operations routes: ``/healthz`` (alive), ``/readyz``
(dependencies, workers and channels) and ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

from bot import health, logs
from bot.metrics import CONTENT_TYPE, CountErrors
from bot.services import Services
from bot.storage import checkpoints, wakeup
from handlers.helpcenter import setup_helpcenter
from handlers.kb_reload import setup_reload

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
NOTHING_CONFIGURED = (
    "no chat channel is configured, so only the help center is served: set TELEGRAM_BOT_TOKEN "
    "(and OPERATOR_CHAT_ID) for Telegram, or BITRIX_WEBHOOK_URL / BITRIX_CLIENT_ID for Bitrix24 "
    "(see .env.example)"
)


# A channel's problem now (for /readyz), or None when it runs as it should.
Check = Callable[[], str | None]
# Mounts a channel on the app (its routes and life cycle) and returns its check; None (nothing
# mounted) when the settings do not configure it.
Mount = Callable[[web.Application, Services], Check | None]


@dataclass
class Operations:
    """What the operations routes look at: services (Redis among them) and each channel's
    running check."""

    services: Services
    channels: dict[str, Check] = field(default_factory=dict)
    started: bool = False  # every channel's start-up finished; false again while stopping


OPERATIONS = web.AppKey("operations", Operations)
WAKEUPS = "database wake-ups"
CHECKPOINTS = "database checkpoints"


def create_web_app(
    services: Services, channels: Sequence[tuple[str, Mount]]
) -> tuple[web.Application, tuple[str, ...]]:
    """The web app with the help center and every configured one of ``channels`` (name, mount)
    mounted, and the names of those mounted."""
    app = web.Application(
        client_max_size=services.settings.web.max_body_bytes, middlewares=[_errors]
    )
    app.router.add_get(HEALTH_PATH, _health)
    app.router.add_get(READY_PATH, _ready)
    app.router.add_get(METRICS_PATH, _metrics)
    setup_helpcenter(app, services.knowledge, language=services.settings.conversation.language)
    app.cleanup_ctx.append(_wakeups_ctx)  # first: listening before any worker starts
    setup_reload(app, services)
    ops = app[OPERATIONS] = Operations(services)
    for name, mount in channels:
        if (check := mount(app, services)) is not None:
            ops.channels[name] = check
    app.cleanup_ctx.append(_operations_ctx)  # last: starts after the channels, stops before
    log.info("web app created channels=%s", ",".join(ops.channels) or "none")
    return app, tuple(ops.channels)


async def _wakeups_ctx(app: web.Application) -> AsyncIterator[None]:
    """Wake this server's workers when another process stores their work
    (:mod:`bot.storage.wakeup`: PostgreSQL notifications, or SQLite's doorbell file)."""
    services = app[OPERATIONS].services
    delivery = services.settings.delivery
    follow = partial(
        wakeup.follow, services.db, tick=delivery.doorbell_seconds, check=delivery.idle_seconds
    )
    services.workers.start(WAKEUPS, follow)
    # SQLite: the log copied back into the database file here, not inside a commit
    services.workers.start(CHECKPOINTS, partial(checkpoints.checkpoints, services.db))
    try:
        yield
    finally:
        await services.workers.stop(CHECKPOINTS)
        await services.workers.stop(WAKEUPS)


async def _operations_ctx(app: web.Application) -> AsyncIterator[None]:
    ops = app[OPERATIONS]
    counter = CountErrors(ops.services.metrics.errors)
    logging.getLogger().addHandler(counter)
    url = ops.services.settings.redis.url
    redact = logs.install([url.get_secret_value()] if url else [])
    ops.started = True
    try:
        yield
    finally:
        ops.started = False
        logs.uninstall(redact)
        logging.getLogger().removeHandler(counter)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """An unexpected error is logged (and so counted) and answered 500 without details."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("request failed method=%s path=%s", request.method, request.path)
        return web.json_response({"ok": False, "error": "internal error"}, status=500)
    return response


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _ready(request: web.Request) -> web.Response:
    """200 when the database answers and every channel runs; else 503 with what failed. Redis
    is off the path of an update (the send limits it shares fall back to each process's own):
    while it is down the app is ready, degraded, and says so under ``degraded``."""
    ops = request.app[OPERATIONS]
    failed: dict[str, str] = {}
    degraded: dict[str, str] = {}
    problem = await health.database_problem(ops.services.db)
    if problem is not None:
        failed["database"] = problem
    redis = ops.services.redis
    if redis is not None and (problem := await health.redis_problem(redis)) is not None:
        degraded["redis"] = f"down (limits local): {problem}"
    if ops.started:
        failed.update(ops.services.workers.problems())
    for name, check in ops.channels.items():
        if not ops.started:
            failed[name] = "not started"
        elif (problem := check()) is not None:
            failed[name] = problem
    body = {
        "ok": not failed,
        "failed": failed,
        "degraded": degraded,
        "channels": sorted(ops.channels),
        "knowledge": ops.services.knowledge.version.as_dict(),
    }
    return web.json_response(body, status=503 if failed else 200)


async def _metrics(request: web.Request) -> web.Response:
    text = await request.app[OPERATIONS].services.metrics.registry.expose()
    return web.Response(body=text.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})
