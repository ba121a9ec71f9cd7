"""The Bitrix24 channel on the aiohttp web app: event and install routes, and its life cycle.

``setup_bitrix(app, services)`` is what ``helpbot serve`` calls: it adds the routes the settings
need (events in webhook mode, the install handler for an OAuth application) and a cleanup
context that opens the REST client, starts the channel's workers and stops them at shutdown.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from bot import logs
from bot.services import Services
from handlers.bitrix24.channel import BitrixChannel
from handlers.bitrix24.eventauth import EventAuth
from handlers.bitrix24.events import MalformedEvent, from_form, unflatten
from handlers.bitrix24.registration import EVENTS_PATH
from handlers.bitrix24.rest.auth import OAuthTokens
from handlers.bitrix24.rest.client import Bitrix24Client, create_client
from handlers.bitrix24.rest.store import DatabaseTokenStore
from handlers.bitrix24.settings import BitrixSettings
from handlers.settings import whole

log = logging.getLogger(__name__)

INSTALL_PATH = "/bitrix24/install"

BITRIX_CHANNEL = web.AppKey("bitrix_channel", BitrixChannel)
_APP_TOKEN = web.AppKey("bitrix_app_token", str)
_SERVICES = web.AppKey("bitrix_services", Services)
_EVENT_AUTH = web.AppKey("bitrix_event_auth", EventAuth)


def bitrix_channel(
    services: Services, client: Bitrix24Client, settings: BitrixSettings
) -> BitrixChannel:
    """The channel on ``client`` with the app's services and delivery settings (not started)."""
    return BitrixChannel(
        client=client,
        sessions=services.sessions,
        engine=services.engine,
        queue=services.queue,
        clock=services.clock,
        settings=settings,
        language=services.settings.conversation.language,
        metrics=services.metrics,
        replica=services.settings.replica,
        policy=services.settings.delivery.policy,
        in_flight=services.settings.delivery.in_flight,
        workers=services.workers,
        idle=services.settings.delivery.idle_seconds,
    )


@asynccontextmanager
async def open_bitrix(services: Services) -> AsyncIterator[BitrixChannel]:
    """The channel with its workers running, for the block's duration."""
    settings = whole(services.settings).bitrix
    store = DatabaseTokenStore(services.sessions, services.clock)
    client = create_client(settings, token_store=store if settings.auth_mode == "oauth" else None)
    channel = bitrix_channel(services, client, settings)
    channel.start()
    try:
        yield channel
    finally:
        await channel.stop()
        await client.aclose()


def setup_bitrix(app: web.Application, services: Services) -> Callable[[], str | None] | None:
    """Mount the channel on ``app`` and return its readiness check; None (nothing mounted) when
    Bitrix24 is not configured."""
    settings = whole(services.settings).bitrix
    if not settings.enabled:
        return None
    app[_SERVICES] = services
    app[_APP_TOKEN] = settings.app_token.get_secret_value() if settings.app_token else ""
    if settings.event_mode == "webhook":
        store = DatabaseTokenStore(services.sessions, services.clock)
        app[_EVENT_AUTH] = auth = EventAuth(settings, store)
        log.info("bitrix webhook events are checked against %s", auth.source)
        app.router.add_post(EVENTS_PATH, on_event)
    if settings.auth_mode == "oauth":
        app.router.add_post(INSTALL_PATH, on_install)
    app.cleanup_ctx.append(_channel_ctx)
    return lambda: app[BITRIX_CHANNEL].problem() if BITRIX_CHANNEL in app else "not started"


async def _channel_ctx(app: web.Application) -> AsyncIterator[None]:
    services = app[_SERVICES]
    redact = logs.install(whole(services.settings).bitrix.secrets())
    try:
        async with open_bitrix(services) as channel:
            app[BITRIX_CHANNEL] = channel
            yield
    finally:
        logs.uninstall(redact)


async def on_event(request: web.Request) -> web.Response:
    """A webhook-mode event: verify the application token, store, answer 200; work comes later."""
    form = await _form(request)
    token = str(form.get("auth[application_token]", ""))
    if not await request.app[_EVENT_AUTH].accepts(token):
        log.warning("bitrix event refused: wrong application token remote=%s", request.remote)
        raise web.HTTPUnauthorized(text="wrong application token")
    try:
        event = from_form(unflatten((k, str(v)) for k, v in form.items()))
    except MalformedEvent as exc:
        log.warning("bitrix event refused: %s type=%s", exc, str(form.get("event", ""))[:64])
        raise web.HTTPBadRequest(text=f"malformed event: {exc}") from None
    if event is None:
        return web.Response(text="ignored")
    fresh = await request.app[BITRIX_CHANNEL].accept(event)
    log.info("bitrix event stored key=%s chat=%s new=%s", event.key, event.chat_id, fresh)
    return web.Response(text="ok")


async def on_install(request: web.Request) -> web.Response:
    """ONAPPINSTALL of the OAuth application: keep its tokens in the database."""
    form = await _form(request)
    services = request.app[_SERVICES]
    store = DatabaseTokenStore(services.sessions, services.clock)
    # The configured token, else the one the first installation brought: a later install that
    # cannot show it must not replace the stored tokens (trust on first use).
    expected = request.app[_APP_TOKEN]
    if not expected:
        installed = await store.load()
        expected = installed.application_token if installed else ""
    if expected and not _token_ok(form, expected):
        log.warning("bitrix install refused: wrong application token remote=%s", request.remote)
        raise web.HTTPUnauthorized(text="wrong application token")
    auth = unflatten((k, str(v)) for k, v in form.items()).get("auth")
    if not isinstance(auth, dict) or not all(
        auth.get(k) for k in ("access_token", "refresh_token", "client_endpoint")
    ):
        log.warning("bitrix install refused: no auth block remote=%s", request.remote)
        raise web.HTTPBadRequest(text="no auth block")
    if not _auth_fits(auth):
        log.warning("bitrix install refused: malformed auth block remote=%s", request.remote)
        raise web.HTTPBadRequest(text="malformed auth block")
    tokens = OAuthTokens.from_event_auth({k: str(v) for k, v in auth.items()})
    await store.save(tokens)
    if _EVENT_AUTH in request.app:
        request.app[_EVENT_AUTH].installed(tokens.application_token)
    log.info("bitrix application installed member=%s", tokens.member_id or "?")
    if BITRIX_CHANNEL in request.app:
        request.app[BITRIX_CHANNEL].kick()
    return web.Response(text="installed")


async def _form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form; a body that is not one (bad encoding, broken multipart) is a 400."""
    try:
        return await request.post()
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as exc:
        # What aiohttp's parsers raise; HttpProcessingError: a multipart part's broken headers.
        log.warning(
            "bitrix request refused: not a form path=%s remote=%s (%s)",
            request.path, request.remote, type(exc).__name__,
        )  # fmt: skip
        raise web.HTTPBadRequest(text="malformed form") from exc


def _auth_fits(auth: dict[str, Any]) -> bool:
    """The auth block's fields fit their columns; the endpoint is an http(s) address."""
    fields = {k: v for k, v in auth.items() if isinstance(v, str)}
    limits = {"member_id": 64, "client_endpoint": 255, "domain": 255, "application_token": 255}
    return (
        len(fields) == len(auth)
        and all(len(fields.get(k, "")) <= n for k, n in limits.items())
        and fields["client_endpoint"].startswith(("https://", "http://"))
        and (fields.get("expires", "") or "0").isascii()
        and (fields.get("expires", "") or "0").isdigit()
        and len(fields.get("expires", "")) <= 12
    )


def _token_ok(form: MultiDictProxy[Any], expected: str) -> bool:
    token = str(form.get("auth[application_token]", ""))
    return bool(expected) and secrets.compare_digest(token.encode(), expected.encode())
