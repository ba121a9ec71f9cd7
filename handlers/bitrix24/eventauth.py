"""Which ``auth[application_token]`` a webhook-mode event must carry, and the check itself.

In order: ``BITRIX_APP_TOKEN`` when set; for a bot registered over an inbound webhook,
``"custom" + BITRIX_BOT_TOKEN`` (the application code the core stores for such a bot and sends as
its events' token: ``BotController::buildCustomClientId``, ``Bot::bindV2RestEvents``,
``rest/lib/event/sender.php``; source-read, see ``docs/bitrix24-live-checks.md`` §5); for an
OAuth application, the token its installation (ONAPPINSTALL) brought, stored with its OAuth
tokens. With none of them every event is refused: nothing is trusted on first sight.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from handlers.bitrix24.rest.auth import TokenStore
from handlers.bitrix24.settings import BitrixSettings

log = logging.getLogger(__name__)


class EventAuth:
    """The expected event token; an OAuth app's is read from the database once installed."""

    def __init__(self, settings: BitrixSettings, store: TokenStore) -> None:
        self._store = store
        self._oauth = settings.auth_mode == "oauth"
        if settings.app_token is not None:
            self._token, self.source = settings.app_token.get_secret_value(), "BITRIX_APP_TOKEN"
        elif settings.auth_mode == "webhook" and settings.bot_token is not None:
            self._token = "custom" + settings.bot_token.get_secret_value()
            self.source = "custom + BITRIX_BOT_TOKEN"
        else:
            self._token, self.source = "", "the application's installation"

    async def expected(self) -> str:
        """The token events must carry; "" while an OAuth app is not installed yet."""
        if self._token:
            return self._token
        if self._oauth:
            installed = await self._store.load()
            if installed is not None and installed.application_token:
                self._token = installed.application_token
                log.info(
                    "bitrix events checked against the install token fingerprint=%s",
                    fingerprint(self._token),
                )
        return self._token

    def installed(self, token: str) -> None:
        """A (re)installation brought ``token``: events carry it from now on."""
        if self.source == "the application's installation" and token:
            self._token = token

    async def accepts(self, token: str) -> bool:
        """Whether an event carrying ``token`` is the portal's (constant-time comparison)."""
        expected = await self.expected()
        ok = bool(expected) and secrets.compare_digest(token.encode(), expected.encode())
        if not ok:
            log.warning(
                "bitrix event token refused got=%s expected=%s from %s",
                fingerprint(token), fingerprint(expected) if expected else "none", self.source,
            )  # fmt: skip
        return ok


def fingerprint(token: str) -> str:
    """A short digest that tells two tokens apart in a log without showing either."""
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else "empty"
