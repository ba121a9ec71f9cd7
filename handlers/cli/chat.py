"""`helpbot chat`: a terminal conversation through the same engine and database as the channels."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import re
import sys
from typing import TYPE_CHECKING

from bot.replies import choose_language
from bot.storage.lengths import ID_LENGTH
from bot.texts import CANCEL_WORDS, phrase
from handlers.cli._runner import run, settings_or_exit

if TYPE_CHECKING:  # the engine and the database: imported when the chat starts (_chat)
    from bot.services import Services
    from handlers.cli.chat_screen import Screen

POLL_SECONDS = 1.0
# Terminal commands: answered here, never read as questions (so never in `report gaps`).
START = frozenset({"/start"})
HELP = frozenset({"/help", "/?"})
QUIT = frozenset({"/quit", "/exit", "/q"})
ENGINE_COMMANDS = frozenset({"/operator"}) | CANCEL_WORDS  # the engine reads these itself
_COMMAND = re.compile(r"/[a-z_]{1,32}")  # as Telegram's bot commands are written


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", help="talk to the bot in the terminal (no token needed)")
    chat.add_argument("--person", default=getpass.getuser(), help="your id (default: user name)")
    chat.add_argument("--name", default="", help="your display name for operators")
    chat.add_argument("--lang", default="", help="language code, e.g. ru, en, ro")
    chat.add_argument("--no-migrate", action="store_true", help="do not upgrade the database")
    chat.set_defaults(func=lambda a: run(_chat(a)))


async def _chat(args: argparse.Namespace) -> int:
    from bot.app import build  # not for `helpbot --help`
    from handlers.cli.chat_screen import LineReader, Screen

    settings = settings_or_exit()
    async with build(settings, schema="check" if args.no_migrate else "upgrade") as app:
        services = await app.services()
        person = str(args.person)[:ID_LENGTH]
        interactive = sys.stdin.isatty()
        screen = Screen(services, person, interactive=interactive)
        await screen.skip_history()
        default_lang = choose_language(args.lang, None, settings.conversation.language)
        if interactive:
            screen.say(phrase("cli_start", await screen.language(default_lang)))
        lines, typed = LineReader(), _Typed(services, screen, args, person, default_lang)
        poller = asyncio.create_task(_poll(screen))
        try:
            while True:
                screen.prompt()
                line = await lines.read()
                screen.answered(line)
                if line is None or line.strip().casefold() in QUIT:
                    break
                await typed.take(line.strip())
                await screen.show_new()
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
    return 0


class _Typed:
    """What a typed line is: a terminal command, a button number, or text for the engine."""

    def __init__(
        self,
        services: Services,
        screen: Screen,
        args: argparse.Namespace,
        person: str,
        default_lang: str,
    ) -> None:
        self._services, self._screen, self._args = services, screen, args
        self._person, self._default_lang = person, default_lang

    async def take(self, line: str) -> None:
        command = line.casefold()
        if not line:
            return
        if command in START:
            await self._say("cli_start")
        elif command in HELP:
            await self._say("cli_help")
        elif command.strip(" .!") in CANCEL_WORDS and not await self._ticket_open():
            await self._say("cli_nothing_to_cancel")
        elif _COMMAND.fullmatch(command) and command not in ENGINE_COMMANDS:
            await self._say("cli_help")  # an unknown command is not a question either
        elif line.isascii() and line.isdigit():
            await self._press(line)
        else:  # a question; /operator and a cancel word are the engine's to read
            await self._send(text=line)

    async def _press(self, line: str) -> None:
        payload = self._screen.press(line)
        if payload:
            await self._send(payload=payload)
        elif not self._screen.buttons:
            await self._say("cli_no_buttons")
        else:
            last = len(self._screen.buttons)
            await self._say("cli_press_range", choices="1" if last == 1 else f"1–{last}")

    async def _send(self, *, text: str = "", payload: str = "") -> None:
        from bot.engine import Incoming  # imported already by _chat's build
        from handlers.cli.chat_screen import CHANNEL

        await self._services.engine.handle(
            Incoming(
                CHANNEL,
                self._person,
                self._person,
                text=text,
                payload=payload,
                display_name=self._args.name or self._person,
                language_code=self._args.lang,
            )
        )

    async def _ticket_open(self) -> bool:
        from handlers.cli.chat_screen import CHANNEL

        return await self._services.queue.open_ticket_for(CHANNEL, self._person) is not None

    async def _say(self, key: str, **fields: object) -> None:
        await self._screen.show_new()  # anything the bot said first stays first
        lang = await self._screen.language(self._default_lang)
        self._screen.say(phrase(key, lang, **fields))


async def _poll(screen: Screen) -> None:
    while True:
        await asyncio.sleep(POLL_SECONDS)
        await screen.show_new()
