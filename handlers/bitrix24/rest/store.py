"""The database-backed TokenStore: tokens survive restarts; each refresh saves the new pair."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.models import BitrixTokens
from handlers.bitrix24.rest.auth import OAuthTokens

__all__ = ["DatabaseTokenStore"]

log = logging.getLogger(__name__)


class DatabaseTokenStore:
    """Keeps one portal's tokens in ``bitrix_tokens`` (keyed by ``member_id``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def load(self) -> OAuthTokens | None:
        async with self._sessions() as session:
            row = await repo.load_tokens(session)
        if row is None:
            return None
        return OAuthTokens(
            access_token=row.access_token,
            refresh_token=row.refresh_token,
            client_endpoint=row.client_endpoint,
            expires_at=row.expires_at,
            member_id=row.member_id,
            domain=row.domain,
            scope=row.scope,
            application_token=row.application_token,
        )

    async def save(self, tokens: OAuthTokens) -> None:
        async with self._sessions.begin() as session:
            await repo.save_tokens(
                session,
                BitrixTokens(
                    member_id=tokens.member_id or tokens.domain or "portal",
                    access_token=tokens.access_token,
                    refresh_token=tokens.refresh_token,
                    client_endpoint=tokens.client_endpoint,
                    expires_at=tokens.expires_at,
                    domain=tokens.domain,
                    scope=tokens.scope,
                    application_token=tokens.application_token,
                    updated_at=self._clock.now(),
                ),
            )
        log.info("bitrix oauth tokens saved member=%s", tokens.member_id or "?")
