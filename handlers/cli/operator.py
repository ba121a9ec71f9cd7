"""`helpbot operator`: work the ticket queue from the terminal (sub-commands or a live shell).

What an action says to a Telegram or Bitrix24 person (and to the Telegram operators' topic) is
queued in that channel's outbox in the action's own transaction; a running `helpbot serve`
sends it. Everything is printed as well. Times are shown in HOURS_TIMEZONE, labelled.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.clock import Clock, SystemClock
from bot.durations import human_duration
from bot.errors import TicketError
from bot.replies import render_plain
from bot.texts import phrase
from handlers.cli import figures
from handlers.cli._runner import run, settings_or_exit
from handlers.settings import Settings

if TYPE_CHECKING:  # the queue and the database: imported when a command runs (_main)
    from bot.channel import Draft
    from bot.delivery import pipeline
    from bot.engine import Event
    from bot.queue import OperatorQueue
    from bot.queue.actions import Action

SHELL_HELP = """commands (add --force to take over a ticket someone else holds, as a supervisor):
  list [all]              open tickets, oldest first: waiting time, * = the person wrote last
  show ID                 the case: question, person, what the bot offered, transcript
  take ID                 take a waiting ticket
  reply ID TEXT...        answer the person (a ticket you hold)
  send-entry ID ENTRY     send a knowledge-base entry's answer card to the person
  transfer ID OPERATOR    hand your ticket to a colleague
  close ID [NOTE...]      close; the person is asked for a rating (--anyway: though unanswered)
  stats                   queue figures
  reflag                  flag tickets nobody took in time
  help, quit
new tickets, and new messages on the tickets you hold, are shown as they arrive"""
_KB_COMMANDS = frozenset({"show", "send-entry"})
# Commands that only read: nothing to queue, so no channel renderer (aiogram: ~3 s) is imported.
_READING_COMMANDS = frozenset({"list", "show", "stats", "help"})
_FLAGS = frozenset({"--force", "--anyway"})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    op = sub.add_parser("operator", help="list, take, answer and close tickets in the terminal")
    op.add_argument("--as", dest="operator", default=getpass.getuser(), help="operator name")
    op.add_argument("--no-migrate", action="store_true", help="do not upgrade the database")
    op.set_defaults(func=lambda a: run(_main(a, None)))
    op_sub = op.add_subparsers(dest="op_command", metavar="OP_COMMAND")
    listing = op_sub.add_parser("list", help="open tickets, oldest first")
    listing.add_argument("--all", action="store_true", help="closed and cancelled ones too")
    listing.set_defaults(func=lambda a: run(_main(a, ["list", *(["all"] if a.all else [])])))
    for name, extra, about in (
        ("show", (), "a ticket's case card"),
        ("take", (), "take a waiting ticket"),
        ("reply", ("text",), "answer the person"),
        ("send-entry", ("entry",), "send a knowledge-base entry's card to the person"),
        ("transfer", ("to_operator",), "hand the ticket to another operator"),
        ("close", ("note",), "close the ticket (optional note)"),
    ):
        command = op_sub.add_parser(name, help=about)
        command.add_argument("ticket", type=int)
        for field in extra:
            command.add_argument(field, nargs="?" if field == "note" else None, default="")
        if name != "show":
            command.add_argument(
                "--force", action="store_true", help="take over a ticket someone else holds"
            )
        if name == "close":
            command.add_argument(
                "--anyway", action="store_true", help="close though the person's last message "
                "is unanswered",
            )  # fmt: skip
        command.set_defaults(func=lambda a, n=name, f=extra: run(_main(a, _words(a, n, f))))
    stats = op_sub.add_parser("stats", help="queue and per-operator figures")
    figures.add_format(stats)
    stats.set_defaults(func=lambda a: run(_main(a, ["stats", "--format", a.format])))
    op_sub.add_parser("reflag", help="flag overdue tickets again").set_defaults(
        func=lambda a: run(_main(a, ["reflag"]))
    )


class ChannelRows:
    """Queue actions through :func:`bot.delivery.pipeline.act`, their messages rendered as
    each channel's outbox rows, counted.

    The channels' renderers (aiogram, aiohttp's server: seconds of start-up) are imported when
    an operator command that acts runs, not when `helpbot --help` lists the commands nor for
    a command that only reads (``acts`` false: acting then is an error); and never inside an
    action's transaction: a slow import there would hold its lock (SQLite's: the whole
    database). Telegram's (aiogram: ~3.5 s of CPU) here, before any transaction, when Telegram
    or its operators' group is configured; else only for an action with an event on a Telegram
    conversation: its render refuses in the transaction (:class:`_TelegramRender`), which rolls
    back, and the action runs again with the renderer made.
    """

    def __init__(self, settings: Settings, clock: Clock, *, acts: bool = True) -> None:
        self.queued: Counter[str] = Counter()
        self._acts = acts
        self._clock = clock
        self._renders: dict[str, pipeline.Render] = {}
        self._keep: pipeline.Keep = lambda events: ()
        self._telegram: _TelegramRender | None = None
        if not acts:
            return
        from bot.delivery import pipeline
        from handlers.bitrix24 import replies as bitrix
        from handlers.bitrix24.storage import CHANNEL as BITRIX

        language = settings.conversation.language
        # A topic's card is brought up to date by `helpbot serve` when its edit is sent.
        ops_chat = settings.operator.chat_id
        telegram = self._telegram = _TelegramRender(ops_chat, language)
        if settings.telegram.enabled or ops_chat is not None:
            telegram.make()
        self._renders = {
            telegram.channel: telegram,
            BITRIX: pipeline.each(bitrix.BitrixCalls(language).render),
        }
        self._keep = bitrix.choices_shown

    async def __call__(self, queue: OperatorQueue, action: Action) -> list[Event]:
        from bot.delivery import pipeline

        if not self._acts:
            raise RuntimeError("a reading operator command acted")
        try:
            acted = await pipeline.act(queue, action, self._renders, self._clock, keep=self._keep)
        except _Unmade:  # rolled back: made now, out of the transaction, and the action again
            assert self._telegram is not None
            self._telegram.make()
            acted = await pipeline.act(queue, action, self._renders, self._clock, keep=self._keep)
        self.queued.update(row.channel for row in acted.rows)
        return acted.events

    def report(self) -> None:
        """Print (and forget) what was queued since the last report."""
        for channel, count in sorted(self.queued.items()):
            if count:
                print(f"queued {count} message(s) for {channel}; `helpbot serve` sends them")
        self.queued.clear()


class _Unmade(Exception):
    """A Telegram event to render before :meth:`_TelegramRender.make` (see :class:`ChannelRows`)."""


class _TelegramRender:
    """:meth:`TelegramCalls.render_all <handlers.telegram.calls.TelegramCalls.render_all>` once
    :meth:`make` made it (aiogram imported); until then it renders nothing for events of other
    channels only, as TelegramCalls does (its ``render`` returns ``[]`` for another channel's
    event), and raises :class:`_Unmade` for an event on a Telegram conversation (with Telegram
    not configured, a ticket from when it was): it is called in the action's transaction, and
    the import is not made there."""

    def __init__(self, operator_chat_id: int | None, language: str) -> None:
        from handlers.telegram.reactions import CHANNEL  # calls.CHANNEL, without aiogram

        self.channel = CHANNEL
        self._ops, self._language = operator_chat_id, language
        self._render: pipeline.Render | None = None

    def make(self) -> pipeline.Render:
        if self._render is None:
            from handlers.telegram.calls import TelegramCalls

            calls = TelegramCalls(operator_chat_id=self._ops, operator_language=self._language)
            self._render = calls.render_all
        return self._render

    def __call__(self, events: Sequence[Event]) -> Iterable[Draft]:
        if self._render is not None:
            return self._render(events)
        if any(event.channel == self.channel for event in events):
            raise _Unmade(self.channel)
        return []


def _words(args: argparse.Namespace, name: str, fields: Sequence[str]) -> list[str]:
    words = [name, str(args.ticket), *(str(getattr(args, f)) for f in fields if getattr(args, f))]
    return words + [flag for flag in _FLAGS if getattr(args, flag[2:], False)]


async def _main(args: argparse.Namespace, words: list[str] | None) -> int:
    # SQLAlchemy, Alembic and the queue load slowly: imported here, not for `helpbot --help`
    from bot.app import build
    from handlers.cli.operator_shell import shell

    settings = settings_or_exit()
    clock = SystemClock()
    outbox = ChannelRows(settings, clock, acts=words is None or words[0] not in _READING_COMMANDS)
    needs_kb = words is None or words[0] in _KB_COMMANDS
    async with build(
        settings, schema="check" if args.no_migrate else "upgrade", clock=clock
    ) as app:
        queue = await app.queue(knowledge=needs_kb)
        if words is not None:
            return await _command(queue, outbox, args.operator, words)

        async def command(words: list[str]) -> int:
            return await _command(queue, outbox, args.operator, words, shell=True)

        return await shell(queue, args.operator, command)
    return 0


async def _command(
    queue: OperatorQueue, outbox: ChannelRows, me: str, words: list[str], *, shell: bool = False
) -> int:
    """Run one command; in the shell a failed command is reported and the shell goes on."""
    try:
        code = await _dispatch(queue, outbox, me, words)
    except TicketError as exc:
        if not shell:
            raise
        print(f"error: {exc}")
        return 1
    outbox.report()
    return code


async def _dispatch(queue: OperatorQueue, outbox: ChannelRows, me: str, words: list[str]) -> int:
    from bot.cases import case_reply
    from bot.queue.actions import Answer, Close, Reflag, SendEntry, Take, Transfer
    from bot.storage import tickets
    from bot.storage.models import TicketStatus
    from handlers.terminal.channel import TerminalChannel

    flags = {w for w in words if w in _FLAGS}
    name, rest = words[0], [w for w in words[1:] if w not in _FLAGS]
    force = "--force" in flags
    if name == "list":
        statuses = tuple(TicketStatus) if rest[:1] == ["all"] else tickets.OPEN_STATUSES
        views = await queue.list_tickets(statuses)
        print(f"times: {queue.zone}")
        for view in views:
            print(await ticket_line(queue, view.id))
        print(f"{len(views)} ticket(s)")
        return 0
    if name == "stats":
        fmt = rest[rest.index("--format") + 1] if "--format" in rest else "text"
        figures.emit(figures.queue_rows(await queue.figures()), fmt, queue.language)
        return 0
    if name == "reflag":
        await TerminalChannel().show(await outbox(queue, Reflag()))
        return 0
    if name == "help" or not rest or not rest[0].isdigit():
        print(SHELL_HELP)
        return 0 if name == "help" else 1
    ticket, args = int(rest[0]), rest[1:]
    if name == "show":
        print(render_plain(case_reply(await queue.case(ticket), queue.language)))
        return 0
    if name == "close" and "--anyway" not in flags and not force:
        card = await queue.case(ticket)
        mine = card.operator in (None, me)  # someone else's: the queue refuses, naming them
        if mine and card.unanswered and card.status in tickets.OPEN_STATUSES:
            said = next(x for x in reversed(card.lines) if x.author == "person")
            print(
                f"warning: ticket #{ticket}: the person's last message is unanswered "
                f"({said.text[:80]!r}); answer it, or close with --anyway",
                file=sys.stderr,
            )
            return 1
    text = " ".join(args)
    actions: dict[str, Action] = {
        "take": Take(ticket, me, force),
        "reply": Answer(ticket, me, text, force),
        "send-entry": SendEntry(ticket, me, text, force),
        "transfer": Transfer(ticket, text or me, me, force),
        "close": Close(ticket, me, text or None, force),
    }
    if name not in actions:
        print(SHELL_HELP)
        return 1
    await TerminalChannel().show(await outbox(queue, actions[name]))
    return 0


async def ticket_line(queue: OperatorQueue, ticket_id: int) -> str:
    """One ticket in a list: status and holder, waiting time, * when the person wrote last."""
    from bot.storage import tickets
    from bot.storage.models import TicketStatus

    card = await queue.case(ticket_id)
    mark = "*" if card.unanswered and card.status in tickets.OPEN_STATUSES else " "
    holder = f" {card.operator}" if card.operator and card.status == TicketStatus.TAKEN else ""
    wait = ""
    if card.status == TicketStatus.WAITING:
        wait = " " + phrase(
            "case_waiting", queue.language, waited=human_duration(card.waited, queue.language)
        )
    local = card.created_at.astimezone(ZoneInfo(queue.zone))
    return (
        f"{mark}#{card.ticket_id} [{card.status}{holder}]{wait} {local:%Y-%m-%d %H:%M} "
        f"{card.person} ({card.channel}): {card.subject[:80]}"
    )
