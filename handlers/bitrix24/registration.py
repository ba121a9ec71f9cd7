"""The bot and its one command on the portal: find by code, register, repair an older install.

Read against ``bitrix24/b24restdocs`` (``chat-bots-v2/imbot.v2/{bots,commands}``) and the public
core the fake portal cites:

* ``imbot.v2.Bot.get`` by ``code`` finds the bot among any number of bots (``Bot.list`` pages 50
  at a time); a bot of another application comes back in the brief format, without
  ``eventMode``, and is not ours.
* ``imbot.v2.Command.register`` is idempotent: for an existing command it answers the stored one
  **unchanged**, so flags are repaired with ``imbot.v2.Command.update`` (its flags are ``Y``/``N``
  strings). The command is ``hidden`` and has ``extranetSupport``: without it the IM module's
  ``findCommands`` drops a press by an extranet author, which every connector customer is.
  ``title`` is an object ``{langCode: text}``. From REST revision 33 a non-empty ``fields`` is the
  request; revision 32 reads only the flat keys (flags typed as strings), so both are sent.
* A bot registered over an inbound webhook gets webhook-mode events only when its handler URL
  carries ``CLIENT_ID=<botToken>`` (``BotWebhookPayloadBuilder::resolveAppCode``); ``register``
  sets the URL with ``imbot.v2.Bot.update`` each time, which also repairs an older install.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from yarl import URL

from handlers.bitrix24.render import COMMAND
from handlers.bitrix24.rest.api import Bitrix24Api
from handlers.bitrix24.rest.errors import Bitrix24Error
from handlers.bitrix24.settings import BitrixSettings

log = logging.getLogger(__name__)

EVENTS_PATH = "/bitrix24/events"
COMMAND_TITLE = {"ru": "Helpbot", "en": "Helpbot", "ro": "Helpbot"}
_FLAGS = {"hidden": True, "extranetSupport": True}


@dataclass(frozen=True, slots=True)
class Registered:
    """What ``register`` did: the bot's id and event mode, and what it repaired."""

    bot_id: int
    event_mode: str
    repaired: tuple[str, ...] = ()


async def find_bot_id(client: Bitrix24Api, code: str) -> int | None:
    """The id of our bot with ``code``; None when there is none or another application's."""
    try:
        result: Any = await client.call("imbot.v2.Bot.get", {"code": code})
    except Bitrix24Error as exc:
        if exc.code == "BOT_NOT_FOUND":
            return None
        raise
    bot = result.get("bot") if isinstance(result, dict) else None
    if not isinstance(bot, dict) or bot.get("code") != code:
        return None
    if "eventMode" not in bot:  # the brief format: the code is another application's bot
        log.warning("bitrix bot code %r belongs to another application", code)
        return None
    return int(bot["id"])


def handler_url(settings: BitrixSettings) -> str:
    """The webhook-mode handler URL; with ``CLIENT_ID=<botToken>`` for a webhook-registered bot.

    It holds the bot token then: never log it.
    """
    url = URL(settings.public_url.rstrip("/") + EVENTS_PATH)
    if settings.auth_mode == "webhook" and settings.bot_token is not None:
        url = url.update_query({"CLIENT_ID": settings.bot_token.get_secret_value()})
    return str(url)


def bot_fields(settings: BitrixSettings, name: str) -> dict[str, Any]:
    """``imbot.v2.Bot.register`` fields for our open-line bot."""
    fields: dict[str, Any] = {
        "code": settings.bot_code,
        "type": "openline",
        "eventMode": settings.event_mode,
        "properties": {"name": name, "workPosition": "Help desk", "color": "AQUA"},
    }
    if settings.event_mode == "webhook":
        fields["webhookUrl"] = handler_url(settings)
    return fields


def command_request(bot_id: int) -> dict[str, Any]:
    """``imbot.v2.Command.register``: ``fields`` (revision 33+) and the flat keys (revision 32)."""
    flat = {k: "Y" if v else "N" for k, v in _FLAGS.items()}
    fields = {"command": COMMAND, "title": COMMAND_TITLE, **_FLAGS}
    return {"botId": bot_id, "fields": fields, "command": COMMAND, "title": COMMAND_TITLE, **flat}


async def register(client: Bitrix24Api, settings: BitrixSettings, name: str) -> Registered:
    """Register the bot and its command, or bring an existing install up to date."""
    answer = await client.call("imbot.v2.Bot.register", {"fields": bot_fields(settings, name)})
    bot = answer["bot"]
    bot_id, mode = int(bot["id"]), str(bot.get("eventMode") or settings.event_mode)
    repaired: list[str] = []
    if mode != settings.event_mode or settings.event_mode == "webhook":
        update: dict[str, Any] = {"eventMode": settings.event_mode}
        if settings.event_mode == "webhook":
            update["webhookUrl"] = handler_url(settings)
        await client.call("imbot.v2.Bot.update", {"botId": bot_id, "fields": update})
        if mode != settings.event_mode:
            repaired.append(f"eventMode {mode} -> {settings.event_mode}")
        mode = settings.event_mode
    command = (await client.call("imbot.v2.Command.register", command_request(bot_id)))["command"]
    wrong = [k for k, v in _FLAGS.items() if _flag(command.get(k)) != v]
    if wrong:
        fields = {"title": COMMAND_TITLE, **{k: "Y" if _FLAGS[k] else "N" for k in _FLAGS}}
        await client.call(
            "imbot.v2.Command.update",
            {"botId": bot_id, "commandId": int(command["id"]), "fields": fields},
        )
        repaired.append("command " + ", ".join(wrong))
    if repaired:
        log.info("bitrix bot repaired bot=%s what=%s", bot_id, "; ".join(repaired))
    return Registered(bot_id, mode, tuple(repaired))


def _flag(value: Any) -> bool:
    return value is True or str(value).upper() in ("Y", "1", "TRUE")
