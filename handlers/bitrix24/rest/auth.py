"""How calls prove who they are: an inbound-webhook URL, or OAuth tokens refreshed via a store."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from yarl import URL

from handlers.bitrix24.rest.errors import (
    Bitrix24Timeout,
    InvalidGrant,
    TransportError,
    error_from_envelope,
)

__all__ = [
    "DEFAULT_OAUTH_URL",
    "InMemoryTokenStore",
    "OAuthAuth",
    "OAuthTokens",
    "TokenStore",
    "WebhookAuth",
    "redact_url",
]

logger = logging.getLogger(__name__)

DEFAULT_OAUTH_URL = "https://oauth.bitrix.info/oauth/token/"

_WEBHOOK_PATH = re.compile(r"(/rest/\d+/)[^/?#\s]+")
_AUTH_PARAM = re.compile(r"((?:auth|access_token|refresh_token|client_secret)=)[^&\s]+", re.I)


def redact_url(text: str) -> str:
    """Hide webhook secrets in ``/rest/<user>/<secret>/`` paths and token query parameters."""
    return _AUTH_PARAM.sub(r"\1***", _WEBHOOK_PATH.sub(r"\1***", text))


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact_url(text)


class WebhookAuth:
    """An inbound webhook ``https://portal/rest/<user>/<secret>/``: the secret lives in the path."""

    kind = "webhook"

    def __init__(self, url: str) -> None:
        parsed = URL(url.strip())
        parts = [p for p in parsed.path.split("/") if p]
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("webhook URL must be an absolute http(s) URL")
        if len(parts) < 3 or parts[0] != "rest" or not parts[1].isdigit() or not parts[2]:
            raise ValueError("webhook URL must look like https://portal/rest/<user id>/<secret>/")
        self.user_id = int(parts[1])
        self._secret = parts[2]
        self._base = parsed.with_path(f"/rest/{parts[1]}/{parts[2]}/").with_query(None)
        self.portal = parsed.host

    def endpoint(self, method: str) -> URL:
        """The URL for ``method``; it contains the secret, so never log it."""
        return URL(f"{self._base}{method}", encoded=False)

    @property
    def redacted(self) -> str:
        return redact_url(str(self._base))

    def secrets(self) -> tuple[str, ...]:
        return (self._secret,)

    def scrub(self, text: str) -> str:
        return _scrub(text, self.secrets())

    def __repr__(self) -> str:
        return f"WebhookAuth({self.redacted!r})"


@dataclass(frozen=True)
class OAuthTokens:
    """One portal's OAuth state; the tokens are kept out of ``repr``."""

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str = dataclasses.field(repr=False)
    client_endpoint: str
    expires_at: int | None = None
    member_id: str = ""
    domain: str = ""
    scope: str = ""
    application_token: str = dataclasses.field(default="", repr=False)

    @classmethod
    def from_event_auth(cls, auth: Mapping[str, str]) -> OAuthTokens:
        """Build from an ``auth[...]`` block (ONAPPINSTALL), already un-bracketed into a mapping."""
        expires = auth.get("expires")
        return cls(
            access_token=auth["access_token"],
            refresh_token=auth.get("refresh_token", ""),
            client_endpoint=auth["client_endpoint"],
            expires_at=int(expires) if expires and expires.isdigit() else None,
            member_id=auth.get("member_id", ""),
            domain=auth.get("domain", ""),
            scope=auth.get("scope", ""),
            application_token=auth.get("application_token", ""),
        )

    def refreshed(self, answer: Mapping[str, Any]) -> OAuthTokens:
        """The state after an OAuth-server answer (its ``domain`` is the OAuth host: ignored)."""
        expires = answer.get("expires")
        return dataclasses.replace(
            self,
            access_token=str(answer["access_token"]),
            refresh_token=str(answer["refresh_token"]),
            client_endpoint=str(answer.get("client_endpoint") or self.client_endpoint),
            expires_at=int(expires) if expires is not None else None,
            member_id=str(answer.get("member_id") or self.member_id),
            scope=str(answer.get("scope") or self.scope),
        )


class TokenStore(Protocol):
    """Where OAuth tokens live between runs (the database later); ``save`` runs on each refresh."""

    async def load(self) -> OAuthTokens | None: ...

    async def save(self, tokens: OAuthTokens) -> None: ...


class InMemoryTokenStore:
    """A TokenStore in memory, for tests and one-off commands; keeps every saved state in order."""

    def __init__(self, tokens: OAuthTokens | None = None) -> None:
        self.tokens = tokens
        self.saved: list[OAuthTokens] = []

    async def load(self) -> OAuthTokens | None:
        return self.tokens

    async def save(self, tokens: OAuthTokens) -> None:
        self.tokens = tokens
        self.saved.append(tokens)


class OAuthAuth:
    """An OAuth application: the access token rides in ``auth``; ``refresh`` is single-flight."""

    kind = "oauth"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        store: TokenStore,
        *,
        oauth_url: str = DEFAULT_OAUTH_URL,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._store = store
        self._oauth_url = URL(oauth_url)
        self._tokens: OAuthTokens | None = None
        self._lock = asyncio.Lock()

    async def tokens(self) -> OAuthTokens:
        """The current tokens, loaded from the store on first use."""
        if self._tokens is None:
            self._tokens = await self._store.load()
            if self._tokens is None:
                raise InvalidGrant("NO_TOKENS", "no OAuth tokens stored: install the application")
        return self._tokens

    @property
    def portal(self) -> str:
        if self._tokens is None:
            return ""
        return URL(self._tokens.client_endpoint).host or ""

    async def refresh(
        self,
        session: aiohttp.ClientSession,
        stale: OAuthTokens,
        client_timeout: aiohttp.ClientTimeout,
    ) -> OAuthTokens:
        """Trade the refresh token for a new pair unless another caller replaced ``stale``."""
        async with self._lock:
            current = await self.tokens()
            if current.access_token != stale.access_token:
                return current
            answer = await self._request(session, current, client_timeout)
            fresh = current.refreshed(answer)
            await self._store.save(fresh)
            self._tokens = fresh
            logger.info("bitrix oauth tokens refreshed for %s", self.portal or "portal")
            return fresh

    async def _request(
        self,
        session: aiohttp.ClientSession,
        current: OAuthTokens,
        client_timeout: aiohttp.ClientTimeout,
    ) -> dict[str, Any]:
        query = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "refresh_token": current.refresh_token,
        }
        try:
            async with session.get(
                self._oauth_url, params=query, timeout=client_timeout
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except TimeoutError:
            raise Bitrix24Timeout("the OAuth server did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise TransportError(self.scrub(f"OAuth server: {type(exc).__name__}")) from None
        if not isinstance(body, dict):
            body = {"error": f"HTTP_{status}", "error_description": "the OAuth server sent no JSON"}
        if "error" in body or "access_token" not in body:
            code = str(body.get("error", "INVALID_RESPONSE"))
            description = self.scrub(str(body.get("error_description", "")))
            error = error_from_envelope(code, description, status)
            if error.code in ("invalid_grant", "invalid_client") or error.retryable:
                raise error  # a 5xx (an error page): the server's outage, the call tried again
            # Any other refusal (PAYMENT_REQUIRED, invalid_scope, settings/oauth/error-codes.md;
            # an unreadable 4xx): no token until someone acts, the calls wait for it.
            raise InvalidGrant(error.code, error.description, status)
        return body

    def secrets(self) -> tuple[str, ...]:
        tokens = self._tokens
        extra = (tokens.access_token, tokens.refresh_token) if tokens else ()
        return (self._client_secret, *extra)

    def scrub(self, text: str) -> str:
        return _scrub(text, self.secrets())

    def __repr__(self) -> str:
        return f"OAuthAuth(client_id={self.client_id!r}, portal={self.portal!r})"
