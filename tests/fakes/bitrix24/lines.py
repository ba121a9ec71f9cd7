"""The core's open-line rules over the fake portal's state: message routing, commands, sessions.

A mixin of :class:`~.world.Portal`. Every rule cites the public core mirror
``yuliai/bitrix-modules`` at ``a3a2a579`` (REST revision 33) as ``file:line``.
"""

from __future__ import annotations

import re
from typing import Any

from .entities import FakeBot, FakeChat, FakeCommand, FakeMessage, FakeSession, FakeUser

# Im\Command::onCommandAdd's parser (im/lib/command.php:320), one command per line.
_COMMAND_LINE = re.compile(r"^/(?P<command>[^ \n]*) ?(?P<params>.*)$", re.M)


class OpenLines:
    """Routing and session rules; the state, ``post``, ``emit`` and the line lookups are
    :class:`~.world.Portal`'s."""

    chats: dict[int, FakeChat]
    bots: dict[int, FakeBot]
    users: dict[int, FakeUser]

    def system_message(self, chat: FakeChat, text: str) -> None:
        """A line notice (``SYSTEM=Y``): never reaches bots, ``Command::onCommandAdd`` returns
        true for system messages so ``Bot::onMessageAdd`` is not called (``command.php:307``)."""
        self.post(chat.dialog_id, 0, text, "system")

    def deliver(self, chat: FakeChat, message: FakeMessage, author: FakeUser) -> None:
        """What ``BotService::runMessageCommand`` does with a new message in a LINES chat
        (``im/lib/V2/Bot/BotService.php:27-34``): a ``/command`` line some command takes becomes
        ONIMBOTV2COMMANDADD (context ``textarea``) and no MESSAGEADD; anything else goes to every
        OPENLINE bot that is a member (``Bot::getBotsForMessage``, ``im/lib/bot.php:2007-2086``;
        never for a bot's own message; b24restdocs ``chat-bots-v2/imbot.v2/events/events.md``:
        MESSAGEADD "occurs when a user sends a message in a chat that the bot is part of", so a
        bot that left at the hand-off hears nothing more of the session). A bare ``0`` then ends
        the bot's session, after the bots got it (``Bot::onMessageAdd``,
        ``im/lib/bot.php:833-841``)."""
        if message.kind == "system" or author.kind == "bot":
            return
        commands = [
            (command, match["params"])
            for match in _COMMAND_LINE.finditer(message.text)
            for command in self.find_commands(chat, match["command"], author)[0]
        ]
        if commands:
            self.command_events(chat, commands, message.entity(chat.id), author, "textarea")
            return
        bots = [self.bots[b] for b in sorted(chat.members) if b in self.bots]
        bots = [b for b in bots if b.serves_open_lines]
        if not bots:
            return
        for bot in bots:
            self.emit(
                bot, "ONIMBOTV2MESSAGEADD", self._payload(chat, message.entity(chat.id), author)
            )
        if message.text.strip() == "0":
            self.end_bot_session(chat)

    # -- commands ----------------------------------------------------------------------------

    def find_commands(
        self, chat: FakeChat, name: str, presser: FakeUser
    ) -> tuple[list[FakeCommand], str]:
        """``Im\\Command::findCommands`` (``im/lib/command.php:627-689``) in a LINES chat: the
        command's bot must serve open lines; ``EXTRANET_SUPPORT=N`` skips an extranet author (every
        connector user, ``command.php:660``); ``COMMON=N`` needs the bot in the chat. Returns the
        commands that take it, or none and why."""
        name = name.removeprefix("/")
        found: list[FakeCommand] = []
        why = f"no bot has a /{name} command"
        for bot in self.bots.values():
            command = bot.commands.get(name)
            if not name or command is None:
                continue
            if not bot.serves_open_lines:
                why = f"bot {bot.id} does not serve open lines"
            elif not command.extranet_support and presser.extranet:
                why = f"/{name} has extranetSupport=N and user {presser.id} is extranet"
            elif not command.common and bot.id not in chat.members:
                why = f"/{name} is not common and bot {bot.id} is not in the chat"
            else:
                found.append(command)
        return found, ("" if found else why)

    def command_events(
        self,
        chat: FakeChat,
        commands: list[tuple[FakeCommand, str]],
        message: dict[str, Any],
        author: FakeUser,
        context: str,
    ) -> None:
        """ONIMBOTV2COMMANDADD per command (``EventPayload::commandAdd``,
        ``im/lib/V2/Event/EventPayload.php:84-106``); identical ``(params, command)`` pairs of one
        message run once and at most 10 run (``command.php:350-366``)."""
        seen: set[tuple[str, int]] = set()
        for command, params in commands:
            if (params, command.id) in seen or len(seen) >= 10:
                continue
            seen.add((params, command.id))
            data = {
                "command": {
                    "id": command.id, "command": f"/{command.name}", "params": params,
                    "context": context,
                },
                **self._payload(chat, message, author),
            }  # fmt: skip
            self.emit(self.bots[command.bot_id], "ONIMBOTV2COMMANDADD", data)

    # -- open-line sessions ------------------------------------------------------------------

    def start_session(self, chat: FakeChat) -> None:
        """A new session: the line's welcome bot joins, holds it (``OPERATOR_ID`` and the chat's
        ``AUTHOR_ID`` are the bot, ``queue.php:462-476``, ``session.php:958-960``), says hello via
        ONIMBOTV2JOINCHAT. ``WELCOME_BOT_JOIN=always`` re-invites it each session."""
        bot = self.welcome_bot(chat.line_id)
        chat.session = FakeSession(
            self.new_id(), "bot" if bot else "queue", bot.id if bot else None,
            operator_id=bot.id if bot else 0, started=self.now(),
        )  # fmt: skip
        chat.sessions.append(chat.session)
        chat.owner = bot.id if bot else 0
        chat.waiting_vote = False
        if bot is not None:
            chat.members.add(bot.id)
            self.emit(
                bot,
                "ONIMBOTV2JOINCHAT",
                {"dialogId": chat.dialog_id, "chat": chat.entity(),
                 "user": chat.customer.entity(), "language": "ru"},
            )  # fmt: skip

    def end_bot_session(self, chat: FakeChat) -> bool:
        """``Imopenlines\\Chat::endBotSession`` (``imopenlines/lib/chat.php:573-620``): only while
        the session's operator is a bot (any bot). The bot leaves unless ``WELCOME_BOT_LEFT`` is
        ``close``, where it stays and the owner becomes 0; the session goes to the queue."""
        holder = chat.session.operator_id
        if chat.session.state == "closed" or not self.is_bot(holder):
            return False
        if self.line(chat.line_id).welcome_bot_left != "close":
            chat.members.discard(holder)
        chat.owner, chat.session.operator_id, chat.session.state = 0, 0, "queue"
        self.system_message(chat, "The conversation was passed to the operators' queue")
        return True

    def answer(self, chat: FakeChat, user_id: int, *, announce: bool = True) -> bool:
        """``Imopenlines\\Chat::answer`` (``chat.php:327-470``): ``user_id`` joins and owns the
        chat; every other real operator leaves, and the line's welcome bot too but only when
        ``WELCOME_BOT_LEFT=queue`` (399-404). False when ``user_id`` owns it already."""
        if chat.owner == user_id:
            return False  # IMOL_CHAT_ERROR_ANSWER_ALREADY_RESPONSIBLE
        chat.members.add(user_id)
        welcome = self.welcome_bot(chat.line_id)
        leaves_on_answer = self.line(chat.line_id).welcome_bot_left == "queue"
        for member in sorted(chat.members - {user_id}):
            is_welcome = welcome is not None and member == welcome.id and leaves_on_answer
            if self.is_real_operator(member) or is_welcome:
                chat.members.discard(member)
        chat.owner = chat.session.operator_id = user_id
        chat.session.state = "bot" if self.is_bot(user_id) else "operator"
        if announce:
            self.system_message(chat, f"[USER={user_id}][/USER] took the dialog")
        return True

    def finish_session(self, chat: FakeChat) -> None:
        """The session closes; the line's people leave, the customer's next message opens a new
        one (and re-invites the welcome bot)."""
        chat.session.state = "closed"
        chat.members = {m for m in chat.members if m == chat.customer.id}
        chat.owner = 0

    def transfer(self, chat: FakeChat, bot_id: int, to: str, leave: bool) -> bool:
        """``Imopenlines\\Chat::transfer`` in bot mode (``chat.php:637-800``): to a queue the
        owner becomes 0 and the other members but the bot leave; to an operator the owner
        becomes 0, the operator joins and the bot leaves unless ``LEAVE=N``."""
        chat.owner, chat.session.operator_id, chat.session.state = 0, 0, "queue"
        if to.startswith("queue"):
            chat.members = {m for m in chat.members if m in (chat.customer.id, bot_id)}
            return True
        target = self.users.get(int(to)) if to.isdigit() else None
        if target is None or not target.active:
            return False
        chat.members = {m for m in chat.members if not self.is_real_operator(m)} | {target.id}
        if leave:
            chat.members.discard(bot_id)
        return True

    def _payload(self, chat: FakeChat, message: dict[str, Any], author: FakeUser) -> dict[str, Any]:
        return {
            "message": message,
            "chat": chat.entity(),
            "user": author.entity(),
            "language": "ru",
        }
