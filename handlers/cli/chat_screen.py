"""What `helpbot chat` shows and reads: messages wrapped at words to the terminal's width,
numbered buttons, a prompt only for a person at a terminal, and standard input read line by line
when the conversation asks for the next one."""

from __future__ import annotations

import asyncio
import queue
import re
import shutil
import sys
import textwrap
import threading
from typing import BinaryIO, TextIO

from bot.payloads import as_sent
from bot.services import Services
from bot.storage import repo

__all__ = ["CHANNEL", "PROMPT", "LineReader", "Screen", "terminal_width", "wrap"]

CHANNEL = "cli"
PROMPT = "you> "
MAX_LINE_CHARS = 100_000  # a typed (or piped) line longer than this is cut
# A list item's marker («• », «1. », «[2] »): its wrapped lines hang under the item's text.
_MARKER = re.compile(r"\s*(?:[•*-]|\d{1,3}[.)]|\[\d{1,3}\])\s+")


def terminal_width() -> int:
    """Columns to wrap at: ``$COLUMNS``, else the terminal's; 0 (no wrapping) for a pipe or file."""
    return shutil.get_terminal_size(fallback=(0, 0)).columns


def wrap(text: str, width: int, label: str = "") -> str:
    """``text`` broken at spaces to ``width`` columns (0: as it is), ``label`` before its first
    line. Words longer than a line (links) stay whole, so that they can still be opened."""
    out: list[str] = []
    for n, line in enumerate(text.split("\n")):
        line = (label if n == 0 else "") + line
        if width <= 0 or len(line) <= width:
            out.append(line)
            continue
        marker = _MARKER.match(line, len(label) if n == 0 else 0)
        hang = " " * (marker.end() if marker else 0)
        out.extend(
            textwrap.wrap(
                line,
                width,
                subsequent_indent=hang,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [""]
        )
    return "\n".join(out)


class Screen:
    """Prints the conversation's new bot and operator messages and remembers their buttons;
    redraws the prompt when an operator's reply arrives while the person is typing."""

    def __init__(
        self,
        services: Services,
        conversation: str,
        *,
        interactive: bool,
        out: TextIO | None = None,
        width: int | None = None,
    ) -> None:
        self._services = services
        self._conversation = conversation
        self._interactive = interactive
        self._out = out or sys.stdout
        self._width = terminal_width() if width is None else width
        self._last_id = 0
        self._lock = asyncio.Lock()
        self._prompting = False
        self.buttons: list[tuple[str, str]] = []

    async def skip_history(self) -> None:
        async with self._services.sessions() as session:
            conv = await repo.find_conversation(session, CHANNEL, self._conversation)
            if conv is not None:
                old = await repo.messages_after(
                    session, conv.id, 0, authors=("bot", "operator", "person")
                )
                self._last_id = old[-1].id if old else 0

    async def language(self, default: str) -> str:
        """The conversation's language (the engine follows the person's), else ``default``."""
        async with self._services.sessions() as session:
            conv = await repo.find_conversation(session, CHANNEL, self._conversation)
        return conv.lang if conv is not None and conv.lang else default

    async def show_new(self) -> None:
        async with self._lock, self._services.sessions() as session:
            conv = await repo.find_conversation(session, CHANNEL, self._conversation)
            if conv is None:
                return
            messages = await repo.messages_after(session, conv.id, self._last_id)
            if messages and self._prompting:
                self._write("\n")  # off the prompt's line; what was typed there stays in view
            for message in messages:
                self._last_id = message.id
                who = f"operator {message.operator}" if message.operator else "bot"
                self._print(message.text, f"{who}> ")
                if message.buttons:
                    self.buttons = [(t, as_sent(p, message.id)) for t, p in message.buttons]
                    for n, (label, _) in enumerate(self.buttons, 1):
                        self._write(wrap(f"  [{n}] {label}", self._width) + "\n")
            if messages and self._prompting:
                self._write("\n" + PROMPT)  # the person was typing: show where to go on
            self._out.flush()

    def say(self, text: str) -> None:
        """A line of the terminal's own (help, hints), shown like the bot's but not stored."""
        self._print(text, "bot> ")
        self._out.flush()

    def prompt(self) -> None:
        """Ask for the next line: a prompt at a terminal, nothing when lines are piped in."""
        if self._interactive:
            self._write("\n" + PROMPT)
            self._out.flush()
            self._prompting = True

    def answered(self, line: str | None) -> None:
        """The person typed ``line`` (``None``: Ctrl-D, the end of input)."""
        if line is None and self._prompting:
            self._write("\n")  # the shell's prompt starts on a line of its own
            self._out.flush()
        self._prompting = False

    def press(self, line: str) -> str:
        """The payload for a typed button number, else ``""``."""
        if line.isascii() and line.isdigit() and 1 <= int(line) <= len(self.buttons):
            return self.buttons[int(line) - 1][1]
        return ""

    def _print(self, text: str, label: str) -> None:
        self._write("\n" + wrap(text, self._width, label) + "\n")

    def _write(self, text: str) -> None:
        self._out.write(text)


class LineReader:
    """Lines of standard input, each read when asked for, by a daemon thread so that Ctrl-C or
    /quit never waits on a blocked read; bad UTF-8 is replaced, never fatal."""

    def __init__(self, stream: BinaryIO | TextIO | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stream = stream if stream is not None else _stdin()
        self._asks: queue.SimpleQueue[asyncio.Future[str | None]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="chat-stdin", daemon=True).start()

    async def read(self) -> str | None:
        """The next line without its line break, or ``None`` at the end of input."""
        wanted: asyncio.Future[str | None] = self._loop.create_future()
        self._asks.put(wanted)
        return await wanted

    def _run(self) -> None:
        while True:
            wanted = self._asks.get()
            line = self._line()
            try:
                self._loop.call_soon_threadsafe(_settle, wanted, line)
            except RuntimeError:  # the chat ended (/quit) and its loop is closed
                return
            if line is None:
                return

    def _line(self) -> str | None:
        limit = MAX_LINE_CHARS * 4  # bytes: a character is at most four
        try:
            raw = self._stream.readline(limit)
            rest = raw
            while len(rest) == limit and rest[-1:] not in ("\n", b"\n"):  # cut, the rest dropped
                rest = self._stream.readline(limit)
        except (OSError, ValueError):  # stdin closed under us: the same as its end
            raw = b""
        if not raw:
            return None
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        return text[:MAX_LINE_CHARS].rstrip("\r\n")


def _stdin() -> BinaryIO | TextIO:
    # Bytes where there are (bad UTF-8 must not end the chat); text from a stand-in stdin.
    buffer: BinaryIO | None = getattr(sys.stdin, "buffer", None)
    return buffer if buffer is not None else sys.stdin


def _settle(wanted: asyncio.Future[str | None], line: str | None) -> None:
    if not wanted.done():
        wanted.set_result(line)
