"""The bot's command menus: the persons' one for every language, the operators' one in their group.

Telegram shows a user the first list found, scope by scope, with the user's language and then
without (Bot API, "Determining list of commands"): so the default scope also gets a list with no
language, or a person whose Telegram speaks another language (or none) sees no menu at all. The
operators' group gets a list of its own (scope ``chat``), which it sees instead of the persons'.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.texts import LANGUAGES
from handlers.telegram.texts import tg_phrase

log = logging.getLogger(__name__)

PERSON_COMMANDS = (("help", "cmd_help"), ("operator", "cmd_operator"))
OPERATOR_COMMANDS = (("close", "cmd_close"), ("transfer", "cmd_transfer"))


def menu(commands: tuple[tuple[str, str], ...], lang: str) -> list[BotCommand]:
    return [BotCommand(command=name, description=tg_phrase(key, lang)) for name, key in commands]


async def setup_commands(
    bot: Bot, *, language: str, operator_chat_id: int | None, operator_language: str
) -> None:
    """Set every menu; a menu is a nicety, so a refusal is logged and start-up goes on."""
    persons = BotCommandScopeDefault()
    wanted: list[tuple[str, BotCommandScopeDefault | BotCommandScopeChat, list[BotCommand]]] = [
        (lang, persons, menu(PERSON_COMMANDS, lang)) for lang in LANGUAGES
    ]
    wanted.append(("", persons, menu(PERSON_COMMANDS, language)))
    if operator_chat_id is not None:
        operators = BotCommandScopeChat(chat_id=operator_chat_id)
        wanted.append(("", operators, menu(OPERATOR_COMMANDS, operator_language)))
    for lang, scope, commands in wanted:
        try:
            await bot.set_my_commands(commands, scope=scope, language_code=lang or None)
        except TelegramAPIError as exc:
            log.warning("bot commands not set scope=%s lang=%s: %s", scope.type, lang or "-", exc)
