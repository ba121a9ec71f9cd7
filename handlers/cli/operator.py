"""`helpbot operator`: work the ticket queue from the terminal (sub-commands or a small shell).

What an action says to a Telegram or Bitrix24 person (and to the Telegram operators' topic) is
queued in that channel's outbox in the action's own transaction; a running `helpbot serve`
sends it. Everything is printed as well.
"""

from __future__ import annotations

import argparse
import getpass
import shlex
import sys
from collections import Counter
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import open_queue
from bot.clock import Clock, SystemClock
from bot.engine import Outgoing, Target
from bot.errors import TicketError
from bot.queue import OperatorQueue, TicketView
from bot.replies import render_plain
from bot.settings import Settings
from bot.storage import tickets
from bot.storage.models import TicketStatus
from handlers.bitrix24 import replies as bitrix_replies
from handlers.cli._runner import run, settings_or_exit
from handlers.telegram.delivery import OutboxRows

SHELL_HELP = """commands:
  list [all]              open tickets, oldest first (all: closed ones too)
  show ID                 the ticket and its transcript
  take ID                 take a waiting ticket
  reply ID TEXT...        answer the person (takes a waiting ticket)
  transfer ID OPERATOR    hand the ticket to another operator
  close ID [NOTE...]      close; the person is asked for a rating
  stats                   queue figures
  reflag                  flag tickets nobody took in time
  help, quit"""


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
        ("show", (), "a ticket and its transcript"),
        ("take", (), "take a waiting ticket"),
        ("reply", ("text",), "answer the person"),
        ("transfer", ("to_operator",), "hand the ticket to another operator"),
        ("close", ("note",), "close the ticket (optional note)"),
    ):
        command = op_sub.add_parser(name, help=about)
        command.add_argument("ticket", type=int)
        for field in extra:
            command.add_argument(field, nargs="?" if field == "note" else None, default="")
        command.set_defaults(func=lambda a, n=name, f=extra: run(_main(a, _words(a, n, f))))
    for name, about in (("stats", "queue figures"), ("reflag", "flag overdue tickets again")):
        op_sub.add_parser(name, help=about).set_defaults(func=lambda a, n=name: run(_main(a, [n])))


class ChannelOutbox:
    """The hook for queue actions: their messages into the channels' outboxes, counted."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._clock = clock
        self._telegram = OutboxRows(
            clock,
            None,  # a ticket card is never among an operator action's messages
            operator_chat_id=settings.operator.chat_id,
            operator_language=settings.conversation.language,
        )
        self.queued: Counter[str] = Counter()

    async def __call__(self, session: AsyncSession, out: list[Outgoing]) -> None:
        self.queued["telegram"] += len(await self._telegram.write(session, out))
        self.queued["bitrix24"] += len(await bitrix_replies.write(session, out, self._clock.now()))

    def report(self) -> None:
        """Print (and forget) what was queued since the last report."""
        for channel, count in sorted(self.queued.items()):
            if count:
                print(f"queued {count} message(s) for {channel}; `helpbot serve` sends them")
        self.queued.clear()


def _words(args: argparse.Namespace, name: str, fields: Sequence[str]) -> list[str]:
    return [name, str(args.ticket), *(str(getattr(args, f)) for f in fields if getattr(args, f))]


async def _main(args: argparse.Namespace, words: list[str] | None) -> int:
    settings = settings_or_exit()
    clock = SystemClock()
    outbox = ChannelOutbox(settings, clock)
    async with open_queue(settings, upgrade=not args.no_migrate, clock=clock) as queue:
        if words is not None:
            return await _command(queue, outbox, args.operator, words)
        print(f"helpbot operator as {args.operator!r}; `help` lists commands")
        for line in sys.stdin:
            try:
                words = shlex.split(line)
            except ValueError as exc:
                print(f"error: {exc}")
                continue
            if words and words[0] in ("quit", "exit"):
                break
            if words:
                await _command(queue, outbox, args.operator, words, shell=True)
    return 0


async def _command(
    queue: OperatorQueue, outbox: ChannelOutbox, me: str, words: list[str], *, shell: bool = False
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


async def _dispatch(queue: OperatorQueue, outbox: ChannelOutbox, me: str, words: list[str]) -> int:
    name, rest = words[0], words[1:]
    if name == "list":
        statuses = tuple(TicketStatus) if rest[:1] == ["all"] else tickets.OPEN_STATUSES
        views = await queue.list_tickets(statuses)
        for view in views:
            print(_line(view))
        print(f"{len(views)} ticket(s)")
        return 0
    if name == "stats":
        f = await queue.figures()
        print(
            f"waiting {f.waiting}, taken {f.taken}, tickets {f.tickets}, median wait "
            f"{f.median_wait or '-'}, median first response {f.median_first_response or '-'}, "
            f"ratings {list(f.ratings) or '-'}"
        )
        return 0
    if name == "reflag":
        _print_out(await queue.reflag_overdue(then=outbox))
        return 0
    if name == "help" or not rest or not rest[0].isdigit():
        print(SHELL_HELP)
        return 0 if name == "help" else 1
    ticket, args = int(rest[0]), rest[1:]
    if name == "show":
        print(_line(await queue.get(ticket)))
        for line in await queue.transcript(ticket):
            who = f"operator {line.operator}" if line.operator else line.author
            said = line.text or f"[button {line.payload}]"
            print(f"  {line.created_at:%Y-%m-%d %H:%M} {who}: {said}")
        return 0
    actions = {
        "take": lambda: queue.take(ticket, me, then=outbox),
        "reply": lambda: queue.reply(ticket, me, " ".join(args), then=outbox),
        "transfer": lambda: queue.transfer(ticket, " ".join(args) or me, then=outbox),
        "close": lambda: queue.close(ticket, me, " ".join(args) or None, then=outbox),
    }
    if name not in actions:
        print(SHELL_HELP)
        return 1
    _print_out(await actions[name]())
    return 0


def _line(view: TicketView) -> str:
    who = view.operator or "-"
    return (
        f"#{view.id} [{view.status}] {view.created_at:%Y-%m-%d %H:%M} {view.person} "
        f"({view.channel}) operator={who}: {view.question[:80]}"
    )


def _print_out(out: list[Outgoing]) -> None:
    for item in out:
        target = "to person" if item.target is Target.PERSON else "to operators"
        effect = f" [{item.effect}]" if item.effect else ""
        text = render_plain(item.reply) if item.reply else ""
        print(f"{target}{effect} ticket #{item.ticket_id}: {text}".rstrip(": "))
