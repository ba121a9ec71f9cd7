"""The Bitrix24 REST client: auth, the shared rate limiter, retries with backoff, batch, errors."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp

from handlers.bitrix24.rest.api import BatchCall, BatchResult
from handlers.bitrix24.rest.auth import OAuthAuth, OAuthTokens, TokenStore, WebhookAuth
from handlers.bitrix24.rest.errors import (
    Bitrix24Error,
    Bitrix24Timeout,
    ExpiredToken,
    InvalidToken,
    OperationTimeLimit,
    QueryLimitExceeded,
    ServerError,
    TransportError,
    error_from_envelope,
)
from handlers.bitrix24.rest.limiter import LeakyBucket
from handlers.bitrix24.settings import BitrixSettings

__all__ = ["MAX_BATCH", "Bitrix24Client", "build_query", "create_client"]

logger = logging.getLogger(__name__)

MAX_BATCH: Final = 50
# Webhook-registered v2 bots repeat their botToken on every call; these session methods take it as
# CLIENT_ID instead (digest §2.1).
_CLIENT_ID_METHODS: Final = frozenset(
    {"imopenlines.bot.session.transfer", "imopenlines.bot.session.finish"}
)

Sleep = Callable[[float], Awaitable[None]]


class Bitrix24Client:
    """One portal's REST client; satisfies :class:`handlers.bitrix24.rest.api.Bitrix24Api`.

    At most ``max_concurrency`` requests are in flight; each (a batch counts once) then takes a slot
    from the portal's :class:`LeakyBucket`.
    ``QUERY_LIMIT_EXCEEDED``, ``OPERATION_TIME_LIMIT``, 5xx answers, time-outs and broken
    connections are retried up to ``max_attempts`` times with exponential backoff and jitter; a
    retried time-out or 5xx may repeat a call the portal already executed. With OAuth,
    ``expired_token`` (or ``invalid_token``) refreshes the tokens once, single-flight, and repeats
    the call.
    With webhook auth and a ``bot_token``, ``imbot.v2.*`` calls get ``botToken`` and the session
    transfer/finish calls get ``CLIENT_ID`` added, so callers never handle that secret.
    """

    def __init__(
        self,
        auth: WebhookAuth | OAuthAuth,
        *,
        session: aiohttp.ClientSession | None = None,
        limiter: LeakyBucket | None = None,
        bot_token: str | None = None,
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_attempts: int = 5,
        max_concurrency: int = 10,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        user_agent: str = "helpbot/0.1",
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._auth = auth
        self._session = session
        self._owns_session = session is None
        self.limiter = limiter or LeakyBucket()
        self._bot_token = bot_token or None
        self._timeout = aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout)
        self._max_attempts = max_attempts
        self._in_flight = asyncio.Semaphore(max_concurrency)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._resets: dict[str, float] = {}  # method -> the operating_reset_at last announced

    @property
    def portal(self) -> str:
        return self._auth.portal

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``method`` and return its ``result``."""
        envelope = await self._request(method, self._with_credentials(method, params))
        return envelope["result"]

    async def batch(self, calls: Mapping[str, BatchCall], *, halt: bool = False) -> BatchResult:
        """Run up to 50 commands in one request; per-command failures land in ``errors``."""
        if not calls:
            return BatchResult()
        if len(calls) > MAX_BATCH:
            raise ValueError(f"a batch takes at most {MAX_BATCH} commands, got {len(calls)}")
        cmd = {}
        for key, (method, params) in calls.items():
            query = build_query(self._with_credentials(method, params))
            cmd[key] = f"{method}?{query}" if query else method
        envelope = await self._request("batch", {"halt": 1 if halt else 0, "cmd": cmd})
        return self._batch_result(envelope["result"])

    async def aclose(self) -> None:
        """Close the HTTP session if the client created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> Bitrix24Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Bitrix24Client({self._auth!r})"

    async def _request(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            tokens = await self._auth.tokens() if isinstance(self._auth, OAuthAuth) else None
            try:
                async with self._in_flight:
                    # The slot is taken only when a request can go out at once, so that the
                    # limiter's timing is the portal's arrival timing.
                    await self.limiter.acquire()
                    return await self._send(method, payload, tokens)
            except (ExpiredToken, InvalidToken):
                if not isinstance(self._auth, OAuthAuth) or tokens is None or refreshed:
                    raise
                logger.info("bitrix %s: access token refused, refreshing", method)
                await self._auth.refresh(self._http(), tokens, self._timeout)
                refreshed = True
                attempt -= 1
            except OperationTimeLimit as exc:
                # Blocked until its reset (minutes): a retry within seconds is refused again.
                exc.reset_at = self._resets.get(method)
                raise
            except Bitrix24Error as exc:
                if not exc.retryable or attempt >= self._max_attempts:
                    raise
                if isinstance(exc, QueryLimitExceeded):
                    self.limiter.saturate()
                delay = self._backoff(attempt)
                logger.warning(
                    "bitrix %s: %s, attempt %d of %d, retrying in %.2fs",
                    method, exc.code, attempt, self._max_attempts, delay,
                )  # fmt: skip
                await self._sleep(delay)

    async def _send(
        self, method: str, payload: dict[str, Any], tokens: OAuthTokens | None
    ) -> dict[str, Any]:
        if tokens is not None:
            url = f"{tokens.client_endpoint.rstrip('/')}/{method}"
            payload = {**payload, "auth": tokens.access_token}
        else:
            assert isinstance(self._auth, WebhookAuth)
            url = str(self._auth.endpoint(method))
        started = time.monotonic()
        try:
            async with self._http().post(
                url, json=payload, headers=self._headers, timeout=self._timeout
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise Bitrix24Timeout(f"{method}: no answer in time") from None
        except aiohttp.ClientError as exc:
            raise TransportError(
                self._auth.scrub(f"{method}: {type(exc).__name__}: {exc}")
            ) from None
        logger.debug(
            "bitrix %s on %s: HTTP %d in %.3fs", method, self.portal, status,
            time.monotonic() - started,
        )  # fmt: skip
        return self._envelope(method, status, raw)

    def _envelope(self, method: str, status: int, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if status >= 500:
                raise ServerError(f"HTTP_{status}", f"{method}: not a JSON answer", status)
            raise Bitrix24Error("INVALID_RESPONSE", f"{method}: not a JSON answer", status)
        if "error" in data:
            description = self._auth.scrub(str(data.get("error_description") or ""))
            raise error_from_envelope(str(data["error"]), description, status)
        if status >= 400:
            raise error_from_envelope(f"HTTP_{status}", method, status)
        if "result" not in data:
            raise Bitrix24Error("INVALID_RESPONSE", f"{method}: no result in the answer", status)
        self._note_reset(method, data.get("time"))
        return data

    def _note_reset(self, method: str, timing: Any) -> None:
        """Remember when the method's execution-time budget resets (``time`` block, cloud)."""
        reset = timing.get("operating_reset_at") if isinstance(timing, dict) else None
        if isinstance(reset, int | float) and not isinstance(reset, bool):
            self._resets[method] = float(reset)
        else:
            self._resets.pop(method, None)

    def _batch_result(self, result: Any) -> BatchResult:
        if not isinstance(result, dict):
            raise Bitrix24Error("INVALID_RESPONSE", "batch: unexpected result shape")
        errors: dict[str, Bitrix24Error] = {}
        for key, err in _as_map(result.get("result_error")).items():
            code = str(err.get("error", "UNKNOWN")) if isinstance(err, dict) else "UNKNOWN"
            text = str(err.get("error_description", "")) if isinstance(err, dict) else str(err)
            errors[key] = error_from_envelope(code, self._auth.scrub(text), None)
        return BatchResult(
            results=_as_map(result.get("result")),
            errors=errors,
            total={k: int(v) for k, v in _as_map(result.get("result_total")).items()},
            next={k: int(v) for k, v in _as_map(result.get("result_next")).items()},
        )

    def _with_credentials(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        out = dict(params or {})
        if self._bot_token is None or not isinstance(self._auth, WebhookAuth):
            return out
        if method == "imbot.v2.Bot.register":
            # The method page and its error text want fields.botToken (digest §2.1, DISAGREE).
            out["fields"] = {"botToken": self._bot_token, **dict(out.get("fields") or {})}
        elif method.startswith("imbot.v2."):
            out.setdefault("botToken", self._bot_token)
        elif method in _CLIENT_ID_METHODS:
            out.setdefault("CLIENT_ID", self._bot_token)
        return out

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session


def _as_map(value: Any) -> dict[str, Any]:
    """PHP serialises an empty map as ``[]``; treat lists as maps keyed by position."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def build_query(params: Mapping[str, Any]) -> str:
    """Encode like PHP ``http_build_query`` (``a[b][0]=x``); None and empty containers go."""
    pairs: list[tuple[str, str]] = []

    def walk(key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for sub, item in value.items():
                walk(f"{key}[{sub}]", item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{key}[{index}]", item)
        elif isinstance(value, bool):
            pairs.append((key, "Y" if value else "N"))
        else:
            pairs.append((key, str(value)))

    for name, item in params.items():
        walk(str(name), item)
    return urlencode(pairs, quote_via=quote)


def create_client(
    settings: BitrixSettings,
    *,
    session: aiohttp.ClientSession | None = None,
    token_store: TokenStore | None = None,
    limiter: LeakyBucket | None = None,
) -> Bitrix24Client:
    """Build the client the settings describe: the webhook URL wins, else the OAuth application."""
    auth: WebhookAuth | OAuthAuth
    if settings.webhook_url is not None:
        auth = WebhookAuth(settings.webhook_url.get_secret_value())
    elif settings.client_id and settings.client_secret is not None:
        if token_store is None:
            raise ValueError("an OAuth application needs a token store")
        auth = OAuthAuth(
            settings.client_id,
            settings.client_secret.get_secret_value(),
            token_store,
            oauth_url=settings.oauth_url,
        )
    else:
        raise ValueError("Bitrix24 is not configured: set BITRIX_WEBHOOK_URL or BITRIX_CLIENT_ID")
    bot_token = settings.bot_token.get_secret_value() if settings.bot_token else None
    return Bitrix24Client(
        auth,
        session=session,
        limiter=limiter or LeakyBucket(settings.rate_burst, settings.rate_per_second),
        bot_token=bot_token,
        request_timeout=settings.request_timeout,
        connect_timeout=settings.connect_timeout,
        max_attempts=settings.max_attempts,
        max_concurrency=settings.max_concurrency,
    )
