"""Who calls the fake portal and which bot it may act for (``BotController``'s rules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .entities import FakeApiError, FakeBot
from .world import Portal


@dataclass(frozen=True)
class Caller:
    """Who is calling: a webhook (user id) or an OAuth application (client id)."""

    auth: Literal["webhook", "oauth"]
    user_id: int
    client_id: str = ""


Method = Callable[[Portal, Caller, dict[str, Any]], Any]


def flag(value: Any) -> bool:
    """``BotController::normalizeBooleanVariable``: a bool as is, else ``Y``/``1``/``TRUE``
    in any case (``imbot/lib/V2/Controller/BotController.php``)."""
    if isinstance(value, bool):
        return value
    return str(value).upper() in ("Y", "1", "TRUE")


def param(params: dict[str, Any], *names: str) -> Any:
    """``getRequestParamAny``: the first of ``names`` given and not empty."""
    return next((params[n] for n in names if params.get(n) not in (None, "")), None)


def caller_app(portal: Portal, caller: Caller, token: Any) -> str:
    """``BotController::resolveClientId``: the OAuth client id, else ``botToken``/``BOT_TOKEN``,
    else the deprecated ``clientId``/``CLIENT_ID``, each as ``"custom" + token``. Without one:
    ``BOT_TOKEN_NOT_SPECIFIED`` in both public releases (REST 32 and 33); the change log
    (BOT-FIX-0408-6) says older cloud builds answered ``CLIENT_ID_NOT_SPECIFIED``."""
    if caller.auth == "oauth":
        return f"app:{caller.client_id}"
    if token in (None, ""):
        if portal.revision < 32:
            raise FakeApiError("CLIENT_ID_NOT_SPECIFIED", "Client ID not specified")
        raise FakeApiError(
            "BOT_TOKEN_NOT_SPECIFIED",
            "Bot token not specified (botToken is required for webhook auth)",
        )
    return f"token:{token}"


def token_of(params: dict[str, Any]) -> Any:
    return param(params, "botToken", "BOT_TOKEN", "clientId", "CLIENT_ID")


def owned_bot(portal: Portal, caller: Caller, params: dict[str, Any]) -> FakeBot:
    """``BotController::resolveBotId``: ``BOT_ID_REQUIRED``, ``BOT_NOT_FOUND``,
    ``BOT_OWNERSHIP_ERROR`` (HTTP 400, as every controller error)."""
    owner = caller_app(portal, caller, token_of(params))
    try:
        bot_id = int(param(params, "botId", "BOT_ID") or 0)
    except (TypeError, ValueError):
        bot_id = 0
    if bot_id <= 0:
        raise FakeApiError("BOT_ID_REQUIRED", "botId is required")
    bot = portal.bots.get(bot_id)
    if bot is None:
        raise FakeApiError("BOT_NOT_FOUND", "Bot not found")
    if bot.owner != owner:
        raise FakeApiError("BOT_OWNERSHIP_ERROR", "Bot was installed by another rest application")
    return bot
