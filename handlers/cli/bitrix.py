"""`helpbot bitrix register|unregister`: the open-line bot on the portal (imbot.v2, by code)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from handlers.cli._runner import run, settings_or_exit
from handlers.settings import Settings

if TYPE_CHECKING:
    from handlers.bitrix24.rest.client import Bitrix24Client

# The client (aiohttp), the database and the web handlers are imported when a command runs, not
# when `helpbot --help` lists the commands.


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bitrix = sub.add_parser("bitrix", help="the Bitrix24 open-line bot (BITRIX_* settings)")
    bitrix_sub = bitrix.add_subparsers(dest="bitrix_command", metavar="BITRIX_COMMAND")
    bitrix_sub.required = True
    up = bitrix_sub.add_parser("register", help="register the bot (again: no change) and say how")
    up.add_argument("--name", default="Helpbot", help="the bot's name in chats")
    up.set_defaults(func=lambda a: run(register_bot(settings_or_exit(), a.name)))
    down = bitrix_sub.add_parser("unregister", help="remove the bot from the portal")
    down.set_defaults(func=lambda a: run(unregister_bot(settings_or_exit())))


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[Bitrix24Client]:
    from bot.app import build
    from handlers.bitrix24.rest.client import create_client
    from handlers.bitrix24.rest.store import DatabaseTokenStore

    bitrix = settings.bitrix
    if not bitrix.enabled:
        raise SystemExit("error: set BITRIX_WEBHOOK_URL, or BITRIX_CLIENT_ID and _SECRET")
    if bitrix.auth_mode != "oauth":
        async with create_client(bitrix) as client:
            yield client
        return
    async with build(settings) as app:
        store = DatabaseTokenStore((await app.database()).sessions, app.clock)
        async with create_client(bitrix, token_store=store) as client:
            yield client


async def register_bot(settings: Settings, name: str = "Helpbot") -> int:
    from handlers.bitrix24.registration import EVENTS_PATH
    from handlers.bitrix24.registration import register as register_on_portal
    from handlers.bitrix24.web import INSTALL_PATH

    bitrix = settings.bitrix
    async with _client(settings) as client:
        done = await register_on_portal(client, bitrix, name)
    print(f"Bot {bitrix.bot_code!r} registered: id {done.bot_id}, events: {done.event_mode}.")
    for what in done.repaired:
        print(f"Repaired an older install: {what}.")
    print(
        "\nNow attach it to the open line (Contact Center > Open Lines > your line > "
        "Chatbots / Automation):\n"
        f"  1. Turn on 'Assign chatbot' and choose '{name}' (id {done.bot_id}).\n"
        "  2. 'Chatbot joins the chat': every time a new session starts.\n"
        "  3. 'When the chat is transferred to an operator': the chatbot leaves the chat "
        "(transfer to queue).\n"
        "  4. Put the operators who answer after the bot in the line's queue.\n"
    )
    if bitrix.event_mode == "webhook":
        # The handler URL may carry the bot token (CLIENT_ID): print it without the query.
        print(f"Events go to {bitrix.public_url.rstrip('/')}{EVENTS_PATH}.")
    if bitrix.auth_mode == "oauth":
        base = bitrix.public_url.rstrip("/") or "<public URL>"
        print(f"The application's install handler is {base}{INSTALL_PATH}.")
    return 0


async def unregister_bot(settings: Settings) -> int:
    from handlers.bitrix24.registration import find_bot_id

    code = settings.bitrix.bot_code
    async with _client(settings) as client:
        bot_id = await find_bot_id(client, code)
        if bot_id is None:
            print(f"No bot {code!r} on the portal: nothing to do.")
            return 0
        await client.call("imbot.v2.Bot.unregister", {"botId": bot_id})
    print(f"Bot {code!r} (id {bot_id}) unregistered.")
    return 0
