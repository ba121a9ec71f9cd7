"""The people around the fake portal: customers on any connector, operators, the line's admin.

Each driver does what the core does when that person acts, citing ``yuliai/bitrix-modules`` at
``a3a2a579`` (REST revision 33) as ``file:line``.
"""

from __future__ import annotations

import aiohttp

from .entities import (
    Delivery,
    DroppedPress,
    FakeBot,
    FakeChat,
    FakeCommand,
    FakeMessage,
    FakeSession,
    FakeUser,
)
from .phpform import flatten
from .wire import Wire

# Connector ids (imconnector/lib/library.php:28-46); custom ones use their own registered id.
CONNECTORS = frozenset(
    {
        "livechat", "telegrambot", "whatsappbytwilio", "whatsappbyedna", "wazzup", "vkgroup",
        "ok", "avito", "max", "viber", "wechat", "facebook", "facebookcomments", "fbinstagram",
        "fbinstagramdirect", "imessage", "olx", "network", "notifications",
    }
)  # fmt: skip


class CustomerSeesNoButtons(LookupError):
    """The customer's client shows no bot keyboard, so there is nothing to press."""


class Drivers(Wire):
    """World building and the people's actions; :class:`FakeBitrix24` adds life cycle and records.

    ``customer_keyboards``: the connectors whose customers see a bot's keyboard. None by default:
    ``Connector::onMessageSend`` forwards a LINES message to the widget copy and to every external
    connector without its ``KEYBOARD`` (``imopenlines/lib/connector.php:1450-1865``: the widget
    copy keeps MESSAGE, ATTACH, SYSTEM, URL_PREVIEW and filtered PARAMS, 1527-1560; connectors
    get text, files, attachments, 1703, 1813-1830). Whether some cloud widget build renders them
    anyway is not settled by the public core: ``{"livechat"}`` emulates one that does.
    """

    customer_keyboards: frozenset[str] = frozenset()
    deliveries: list[Delivery]
    webhook_timeout = 5.0
    _operator: FakeUser | None = None
    _http: aiohttp.ClientSession | None = None

    # -- the line and its people -------------------------------------------------------------

    def configure_line(
        self,
        line_id: int,
        *,
        welcome_bot: str | None = None,
        bot_left: str = "queue",
        signature: bool = False,
    ) -> None:
        """WELCOME_BOT_ID (by code), WELCOME_BOT_LEFT (``queue``: the bot leaves when the chat goes
        to operators; ``close``: it stays a member) and the operator-name signature."""
        config = self.portal.line(line_id)
        config.welcome_bot_id = self.bot(welcome_bot).id if welcome_bot else None
        config.welcome_bot_left = "close" if bot_left == "close" else "queue"
        config.signature = signature

    def add_operator(self, name: str = "Olga Operator") -> FakeUser:
        return self.portal.add_user(name, "employee")

    def add_bot(
        self, code: str, *, bot_token: str | None = None, openline: bool = False
    ) -> FakeBot:
        """A bot registered by someone else's call: the webhook ``bot_token``'s, else the app's."""
        owner = f"token:{bot_token}" if bot_token else f"app:{self.client_id}"
        user = self.portal.add_user(code, "bot")
        bot = FakeBot(user.id, code, code, "openline" if openline else "bot", "fetch", "",
                      owner, openline)  # fmt: skip
        self.portal.bots[bot.id] = bot
        return bot

    def bot(self, code: str) -> FakeBot:
        return next(b for b in self.portal.bots.values() if b.code == code)

    def command(self, code: str, name: str) -> FakeCommand:
        """The registered ``/name`` command of bot ``code`` (KeyError when there is none)."""
        return self.bot(code).commands[name.removeprefix("/")]

    def set_command_flags(self, code: str, name: str, **flags: bool) -> FakeCommand:
        """What an admin's ``imbot.v2.Command.update`` would leave (``extranet_support=True``…)."""
        command = self.command(code, name)
        for key, value in flags.items():
            setattr(command, key, value)
        return command

    async def open_line_chat(
        self, line_id: int = 1, *, customer_name: str = "Guest", connector: str = "livechat"
    ) -> FakeChat:
        """A customer writes to the line through ``connector``: imconnector makes them a
        connector user (``imconnector/lib/connectors/base.php:502-545``), a LINES chat whose
        ``entityId`` starts with the connector's code, a session, and the welcome bot joins."""
        customer = self.portal.add_user(customer_name, "connector")
        remote = self.portal.new_id() if connector == "livechat" else 7_000_000 + customer.id
        placeholder = FakeSession(0, "closed", None)
        chat = FakeChat(self.portal.new_id(), line_id, connector, customer, placeholder, remote)
        chat.members.add(customer.id)
        self.portal.chats[chat.id] = chat
        self.portal.start_session(chat)
        await self._deliver()
        return chat

    # -- the customer ------------------------------------------------------------------------

    async def customer_sends(self, chat: FakeChat, text: str) -> FakeMessage:
        """The customer writes. A closed session restarts (the welcome bot re-joins first). On
        a non-widget connector, ``1``/``0`` (alone or before a space) while the closed session
        waits for a rating is a vote and arrives as ``[like]``/``[dislike]``
        (``Connector::addMessage``, ``connector.php:121-138, 426-470``; ``$noVote = [livechat]``).
        Then the core's message path runs (:meth:`Portal.deliver`): bots that are members hear
        it, a ``/command`` may become a command, a bare ``0`` ends the bot's session after the
        bots got it."""
        vote = chat.connector != "livechat" and (text[:1] in ("0", "1")) and text[1:2] in ("", " ")
        if chat.waiting_vote and vote:
            chat.waiting_vote = False
            chat.votes.append(5 if text[0] == "1" else 1)
            text = ("[like]" if text[0] == "1" else "[dislike]") + text[1:]
        elif chat.session.state == "closed":
            self.portal.start_session(chat)
        message = self.portal.post(chat.dialog_id, chat.customer.id, text, "customer")
        self.portal.deliver(chat, message, chat.customer)
        await self._deliver()
        return message

    def customer_view(self, chat: FakeChat) -> list[tuple[str, list[dict[str, object]]]]:
        """What the customer's client shows of the line's messages: ``(text, keyboard)`` for each
        message ``Connector::onMessageSend`` forwards (not the customer's own, not SYSTEM, not
        SKIP_CONNECTOR or SILENT_CONNECTOR, ``connector.php:1450-1500``), the operator-name
        signature when the line adds it (1800-1810); the keyboard only on ``customer_keyboards``."""
        shown = []
        signature = self.portal.line(chat.line_id).signature
        for message in self.messages(chat):
            if message.kind in ("customer", "system"):
                continue
            if message.skip_connector or message.silent_connector:
                continue
            text = message.text
            if signature and message.author_id > 0:
                author = self.portal.users[message.author_id].name
                text = f"[b]{author}:[/b] [br]{text}"
            keys = list(message.keyboard) if chat.connector in self.customer_keyboards else []
            shown.append((text, keys))
        return shown

    async def press_button(
        self,
        chat: FakeChat,
        command: str,
        params: str | None = None,
        *,
        by: FakeUser | None = None,
    ) -> FakeMessage:
        """Someone (the customer unless ``by``) presses a COMMAND button on the latest bot
        message showing it: ``im.message.command`` → ``CIMMessenger::ExecCommand``
        (``im/classes/general/im_messenger.php:1599-1686``) → ``Im\\Command::onCommandAdd``.

        The customer must see the keyboard (:attr:`customer_keyboards`, else
        :class:`CustomerSeesNoButtons`); a widget press is made on the widget copy, re-pointed at
        the LINES chat (1637-1657). The command then has to pass ``findCommands`` — above all
        ``EXTRANET_SUPPORT=Y`` for a customer — or the press is dropped silently: the REST call
        still answers ``true``, no event is written, :attr:`dropped_presses` records why.
        """
        presser = by or chat.customer
        if presser is chat.customer and chat.connector not in self.customer_keyboards:
            raise CustomerSeesNoButtons(
                f"{chat.connector} shows the customer no bot keyboard (Connector::onMessageSend)"
            )
        name = command.removeprefix("/")
        for message in reversed(self.bot_messages(chat)):
            button = next((b for b in message.buttons if b.get("COMMAND") == name), None)
            if button is None or (params is not None and button.get("COMMAND_PARAMS") != params):
                continue
            if button.get("DISABLED") == "Y" or (button.get("BLOCK") == "Y" and message.pressed):
                raise LookupError(f"button {name!r} is blocked")  # Im\Bot\Keyboard: the client
            message.pressed.add(name)
            pressed = str(button.get("COMMAND_PARAMS") or "")
            self._press(chat, message, presser, name, pressed)
            await self._deliver()
            return message
        raise LookupError(f"no bot message in {chat.dialog_id} shows a /{name} button")

    def _press(
        self, chat: FakeChat, message: FakeMessage, presser: FakeUser, name: str, params: str
    ) -> None:
        if presser is not chat.customer and presser.id not in chat.members:
            self.portal.dropped_presses.append(
                DroppedPress(chat.id, name, params, "the presser is not in the chat")
            )
            return
        found, why = self.portal.find_commands(chat, name, presser)
        if not found:
            self.portal.dropped_presses.append(DroppedPress(chat.id, name, params, why))
            return
        entity = message.entity(chat.id)
        if presser is chat.customer and chat.connector == "livechat":
            if not message.widget_copy_id:
                message.widget_copy_id = self.portal.new_id()
            entity = message.entity(chat.remote_chat_id, message_id=message.widget_copy_id)
        self.portal.command_events(chat, [(c, params) for c in found], entity, presser, "keyboard")

    async def await_vote(self, chat: FakeChat) -> None:
        """The line closes the session and asks the customer for a rating (``WAIT_VOTE=Y``)."""
        self.portal.finish_session(chat)
        chat.waiting_vote = True
        self.portal_changed()

    # -- operators ---------------------------------------------------------------------------

    def _default_operator(self, operator: FakeUser | None) -> FakeUser:
        if operator is not None:
            return operator
        self._operator = self._operator or self.add_operator()
        return self._operator

    async def operator_sends(
        self, chat: FakeChat, text: str, *, operator: FakeUser | None = None
    ) -> FakeMessage:
        """An employee writes in the chat. Writing takes nothing by itself: only while the chat
        has no owner (0) does the line make the writer its operator (``Session::update`` with
        ``MODE_OUTPUT``, ``imopenlines/lib/session.php:527-537``: ``answer`` then ``join``).
        Every OPENLINE bot still in the chat hears it."""
        operator = self._default_operator(operator)
        if chat.owner == 0 and chat.session.state != "closed":
            self.portal.answer(chat, operator.id, announce=False)
        chat.members.add(operator.id)
        message = self.portal.post(chat.dialog_id, operator.id, text, "operator")
        self.portal.deliver(chat, message, operator)
        await self._deliver()
        return message

    async def operator_answers(self, chat: FakeChat, operator: FakeUser | None = None) -> bool:
        """The operator presses "answer" (``imopenlines.operator.answer``): ``Chat::answer``
        (``chat.php:327-470``) — the operator owns the chat; the welcome bot leaves only with
        ``WELCOME_BOT_LEFT=queue``; the bot is not told (system messages never reach bots)."""
        done = self.portal.answer(chat, self._default_operator(operator).id)
        self.portal_changed()
        return done

    async def intercept(self, chat: FakeChat, operator: FakeUser | None = None) -> bool:
        """An operator takes a chat someone else owns (``imopenlines.session.intercept``,
        ``Chat::intercept``, ``chat.php:474-511``): ``answer`` without its notice, then an
        "intercepted" system message. Only while the owner is someone (> 0) else."""
        operator = self._default_operator(operator)
        if chat.owner <= 0 or chat.owner == operator.id:
            return False
        taken = self.portal.answer(chat, operator.id, announce=False)
        if taken:
            self.portal.system_message(chat, f"[USER={operator.id}][/USER] intercepted the chat")
        self.portal_changed()
        return taken

    async def operator_joins(self, chat: FakeChat, operator: FakeUser | None = None) -> None:
        """``imopenlines.session.join`` → ``Chat::join`` (``operator.php:465-477``,
        ``chat.php:1209-1220``): a member, nothing more — the owner stays (the bot)."""
        operator = self._default_operator(operator)
        chat.members.add(operator.id)
        self.portal.system_message(chat, f"[USER={operator.id}][/USER] joined the chat")
        self.portal_changed()

    async def bot_session_times_out(self, chat: FakeChat) -> bool:
        """The line's WELCOME_BOT_TIME passes with the customer still there: the line ends the
        bot's session itself (``endBotSession``: the owner becomes 0, the bot stays with
        ``WELCOME_BOT_LEFT=close``) and the chat waits in the queue."""
        ended = self.portal.end_bot_session(chat)
        self.portal_changed()
        return ended

    async def queue_assigns(self, chat: FakeChat, operator: FakeUser | None = None) -> None:
        """The queue hands a waiting chat to an operator (``Chat::waitAnswer``,
        ``chat.php:624-630``: ``AUTHOR_ID`` becomes the operator). Only once the bot's session
        has ended; the bot is still a member iff ``WELCOME_BOT_LEFT=close``."""
        if chat.session.state == "bot":
            raise RuntimeError("the queue assigns only chats the bot has handed over")
        operator = self._default_operator(operator)
        chat.members.add(operator.id)
        chat.owner = chat.session.operator_id = operator.id
        chat.session.state = "operator"
        self.portal_changed()

    async def operator_finishes(self, chat: FakeChat) -> None:
        """The operator closes the session; the customer's next message opens a new one."""
        self.portal.finish_session(chat)
        self.portal_changed()

    # -- records and delivery ----------------------------------------------------------------

    def messages(self, chat: FakeChat | str) -> list[FakeMessage]:
        dialog_id = chat.dialog_id if isinstance(chat, FakeChat) else chat
        return list(self.portal.dialogs.get(dialog_id, []))

    def bot_messages(self, chat: FakeChat | str) -> list[FakeMessage]:
        return [m for m in self.messages(chat) if m.kind == "bot"]

    async def _deliver(self) -> None:
        """POST queued webhook-mode events, form-encoded; no retry, failures only recorded."""
        self.portal_changed()
        while self.portal.outbox:
            bot, body = self.portal.outbox.pop(0)
            self.deliveries.append(await self.post_form(bot.webhook_url, body))
            self.portal_changed()

    async def post_form(self, url: str, body: dict[str, object]) -> Delivery:
        """One ``http_build_query`` POST (``Sqs::queryItem``, ``rest/lib/event/sender.php``)."""
        assert self._http is not None, "use FakeBitrix24 as an async context manager"
        form = flatten(body)
        event = str(body.get("event", ""))
        try:
            timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
            async with self._http.post(url, data=form, timeout=timeout) as response:
                await response.read()
                return Delivery(url, event, form, response.status)
        except (aiohttp.ClientError, TimeoutError):
            return Delivery(url, event, form, None)
