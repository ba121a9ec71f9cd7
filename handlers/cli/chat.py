"""`helpbot chat`: a terminal conversation through the same engine and database as the channels."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
import threading

from bot.app import Services, open_services
from bot.engine import Incoming
from bot.storage import repo
from handlers.cli._runner import run, settings_or_exit

CHANNEL = "cli"
POLL_SECONDS = 1.0
HELP = (
    "helpbot chat: type a question; a number presses a button; operators' replies appear as "
    "they come (`helpbot operator` in another terminal); /quit or Ctrl-D leaves."
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", help="talk to the bot in the terminal (no token needed)")
    chat.add_argument("--person", default=getpass.getuser(), help="your id (default: user name)")
    chat.add_argument("--name", default="", help="your display name for operators")
    chat.add_argument("--lang", default="", help="language code, e.g. ru, en, ro")
    chat.add_argument("--no-migrate", action="store_true", help="do not upgrade the database")
    chat.set_defaults(func=lambda a: run(_chat(a)))


class _Screen:
    """Prints the conversation's new bot and operator messages and remembers their buttons."""

    def __init__(self, services: Services, conversation: str) -> None:
        self._services = services
        self._conversation = conversation
        self._last_id = 0
        self._lock = asyncio.Lock()
        self.buttons: list[tuple[str, str]] = []

    async def skip_history(self) -> None:
        async with self._services.sessions() as session:
            conv = await repo.find_conversation(session, CHANNEL, self._conversation)
            if conv is not None:
                old = await repo.messages_after(
                    session, conv.id, 0, authors=("bot", "operator", "person")
                )
                self._last_id = old[-1].id if old else 0

    async def show_new(self) -> None:
        async with self._lock, self._services.sessions() as session:
            conv = await repo.find_conversation(session, CHANNEL, self._conversation)
            if conv is None:
                return
            for message in await repo.messages_after(session, conv.id, self._last_id):
                self._last_id = message.id
                who = f"operator {message.operator}" if message.operator else "bot"
                print(f"\n{who}> {message.text}")
                if message.buttons:
                    self.buttons = [(label, payload) for label, payload in message.buttons]
                    for n, (label, _) in enumerate(self.buttons, 1):
                        print(f"  [{n}] {label}")
            sys.stdout.flush()

    def press(self, line: str) -> str:
        """The payload for a typed button number, else ``""``."""
        if line.isdigit() and 1 <= int(line) <= len(self.buttons):
            return self.buttons[int(line) - 1][1]
        return ""


async def _chat(args: argparse.Namespace) -> int:
    async with open_services(settings_or_exit(), upgrade=not args.no_migrate) as services:
        person = str(args.person)[:128]
        screen = _Screen(services, person)
        await screen.skip_history()
        print(HELP)
        lines = _stdin_lines()
        poller = asyncio.create_task(_poll(screen))
        try:
            while (line := await lines.get()) is not None:
                line = line.strip()
                if line in ("/quit", "/exit"):
                    break
                payload = screen.press(line)
                await services.engine.handle(
                    Incoming(
                        CHANNEL,
                        person,
                        person,
                        text="" if payload else line,
                        payload=payload,
                        display_name=args.name or person,
                        language_code=args.lang,
                    )
                )
                await screen.show_new()
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
    return 0


async def _poll(screen: _Screen) -> None:
    while True:
        await asyncio.sleep(POLL_SECONDS)
        await screen.show_new()


def _stdin_lines() -> asyncio.Queue[str | None]:
    """Lines typed (or piped) in, read by a daemon thread so that Ctrl-C never hangs on input."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            for raw in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, raw[:100_000])
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except RuntimeError:  # the chat ended (/quit) and its loop is closed
            return

    threading.Thread(target=read, name="chat-stdin", daemon=True).start()
    return queue
