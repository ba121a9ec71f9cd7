"""The fake portal's state: users, bots, open-line chats, sessions, messages, queues, records."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

UserKind = Literal["employee", "connector", "bot"]
SessionState = Literal["bot", "queue", "operator", "closed"]
UUID_FORM = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


class FakeApiError(Exception):
    """A method failure, rendered as ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone().isoformat(timespec="seconds")


@dataclass
class FakeUser:
    id: int
    name: str
    kind: UserKind = "employee"

    def entity(self) -> dict[str, Any]:
        first, _, last = self.name.partition(" ")
        return {
            "id": self.id,
            "active": True,
            "name": self.name,
            "firstName": first,
            "lastName": last,
            "bot": self.kind == "bot",
            "connector": self.kind == "connector",
            "externalAuthId": {"connector": "imconnector", "bot": "bot"}.get(self.kind, "default"),
            "type": {"connector": "extranet", "bot": "bot"}.get(self.kind, "employee"),
        }


@dataclass
class FakeBot:
    id: int
    code: str
    name: str
    type: str
    event_mode: str
    webhook_url: str
    owner: str  # "app:<client_id>" (OAuth) or "token:<botToken>" (webhook auth)
    is_support_openline: bool
    commands: dict[str, int] = field(default_factory=dict)  # name without "/" -> command id
    command_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # as Command.list shows
    queue: list[dict[str, Any]] = field(default_factory=list)  # fetch mode, oldest first
    access_token: str = field(default_factory=lambda: secrets.token_hex(16))

    def entity(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "type": self.type,
            "isHidden": False,
            "isSupportOpenline": self.is_support_openline,
            "isReactionsEnabled": True,
            "backgroundId": None,
            "language": "ru",
            "moduleId": "rest",
            "eventMode": self.event_mode,
            "countMessage": 0,
            "countCommand": len(self.commands),
            "countChat": 0,
            "countUser": 0,
        }

    @property
    def serves_open_lines(self) -> bool:
        return self.type == "openline" or self.is_support_openline


@dataclass
class FakeMessage:
    id: int
    dialog_id: str
    author_id: int
    text: str
    kind: Literal["customer", "operator", "bot", "system"]
    keyboard: list[dict[str, Any]] = field(default_factory=list)
    date: float = field(default_factory=time.time)
    pressed: set[str] = field(default_factory=set)
    uuid: str = ""  # the sender's templateId, when it gave a valid one

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [b for b in self.keyboard if b.get("TYPE") != "NEWLINE"]

    def entity(self, chat_id: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "chatId": chat_id,
            "authorId": self.author_id,
            "date": iso(self.date),
            "text": self.text,
            "isSystem": self.kind == "system",
            "uuid": self.uuid,
            "forward": None,
            "params": {},
            "viewedByOthers": False,
        }


@dataclass
class FakeSession:
    id: int
    state: SessionState
    bot_id: int | None
    operator_id: int | None = None


@dataclass
class FakeChat:
    """An open-line chat (entity type LINES) between a connector customer and the line."""

    id: int
    line_id: int
    connector: str
    customer: FakeUser
    session: FakeSession
    members: set[int] = field(default_factory=set)
    sessions: list[FakeSession] = field(default_factory=list)

    @property
    def dialog_id(self) -> str:
        return f"chat{self.id}"

    @property
    def entity_id(self) -> str:
        return f"{self.connector}|{self.line_id}|{self.id + 1000}|{self.customer.id}"

    def entity(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dialogId": self.dialog_id,
            "type": "lines",
            "name": f"{self.customer.name} - Open Line {self.line_id}",
            "entityType": "LINES",
            "entityId": self.entity_id,
            "entityData1": f"N|NONE|0|N|N|{self.session.id}|{int(time.time())}|0|0|0",
            "entityData2": "LEAD|0|COMPANY|0|CONTACT|0|DEAL|0",
            "entityData3": "",
            "owner": self.session.operator_id or self.session.bot_id or 0,
            "avatar": "",
            "color": "#ab7761",
        }


@dataclass(frozen=True)
class Transfer:
    """A bot's session action: ``operator`` (to the line's queue), ``transfer`` or ``finish``."""

    chat_id: int
    session_id: int
    bot_id: int | None
    kind: Literal["operator", "transfer", "finish"]
    target: str = ""


@dataclass(frozen=True)
class CallRecord:
    method: str
    params: dict[str, Any]
    auth: Literal["webhook", "oauth", "none"]
    status: int
    error: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One webhook-mode event POST; ``status`` is None when the handler could not be reached."""

    url: str
    event: str
    form: list[tuple[str, str]]
    status: int | None


@dataclass
class LineConfig:
    welcome_bot_id: int | None = None  # None: the first registered open-line bot
    welcome_bot_left: Literal["queue", "close"] = "queue"


class Portal:
    """Everything the fake portal knows; synchronous, so methods and drivers share it safely."""

    def __init__(self, domain: str, member_id: str, application_token: str) -> None:
        self.domain = domain
        self.member_id = member_id
        self.application_token = application_token
        self.client_endpoint = ""  # set once the server knows its URL
        self._ids = itertools.count(100)
        self._event_ids = itertools.count(1)
        self.users: dict[int, FakeUser] = {1: FakeUser(1, "Portal Admin")}
        self.bots: dict[int, FakeBot] = {}
        self.chats: dict[int, FakeChat] = {}
        self.dialogs: dict[str, list[FakeMessage]] = {}
        self.uuids: dict[str, FakeMessage] = {}  # templateId -> the message first sent with it
        self.lines: dict[int, LineConfig] = {}
        self.transfers: list[Transfer] = []
        self.outbox: list[tuple[FakeBot, dict[str, Any]]] = []  # webhook-mode events to POST

    def new_id(self) -> int:
        return next(self._ids)

    def add_user(self, name: str, kind: UserKind = "employee") -> FakeUser:
        user = FakeUser(self.new_id(), name, kind)
        self.users[user.id] = user
        return user

    def line(self, line_id: int) -> LineConfig:
        return self.lines.setdefault(line_id, LineConfig())

    def welcome_bot(self, line_id: int) -> FakeBot | None:
        wanted = self.line(line_id).welcome_bot_id
        if wanted is not None:
            return self.bots.get(wanted)
        return next((b for b in self.bots.values() if b.serves_open_lines), None)

    def post(
        self,
        dialog_id: str,
        author_id: int,
        text: str,
        kind: Literal["customer", "operator", "bot", "system"],
        keyboard: list[dict[str, Any]] | None = None,
        uuid: str = "",
    ) -> FakeMessage:
        """Add a message; a repeated non-system ``uuid`` returns the first message instead.

        As the IM module's ``SendingService::checkDuplicateByUuid``: a valid uuid is registered
        with the message it was sent with, and a later send with the same one posts nothing.
        """
        if uuid and kind != "system" and UUID_FORM.fullmatch(uuid):
            uuid = uuid.lower()
            if uuid in self.uuids:
                return self.uuids[uuid]
        else:
            uuid = ""
        message = FakeMessage(self.new_id(), dialog_id, author_id, text, kind, keyboard or [])
        message.uuid = uuid
        if uuid:
            self.uuids[uuid] = message
        self.dialogs.setdefault(dialog_id, []).append(message)
        return message

    def chat_of(self, dialog_id: str) -> FakeChat | None:
        if dialog_id.startswith("chat") and dialog_id[4:].isdigit():
            return self.chats.get(int(dialog_id[4:]))
        return None

    def start_session(self, chat: FakeChat) -> None:
        """A new session: the line's welcome bot (if any) joins and says hello via JOINCHAT."""
        bot = self.welcome_bot(chat.line_id)
        chat.session = FakeSession(
            self.new_id(), "bot" if bot else "queue", bot.id if bot else None
        )
        chat.sessions.append(chat.session)
        if bot is not None:
            chat.members.add(bot.id)
            self.emit(
                bot,
                "ONIMBOTV2JOINCHAT",
                {
                    "dialogId": chat.dialog_id,
                    "chat": chat.entity(),
                    "user": chat.customer.entity(),
                    "language": "ru",
                },
            )

    def notify_bots(self, chat: FakeChat, message: FakeMessage, author: FakeUser) -> None:
        """ONIMBOTV2MESSAGEADD to each open-line bot still in the chat (operators' messages too)."""
        for bot_id in sorted(chat.members):
            bot = self.bots.get(bot_id)
            if bot is None or not bot.serves_open_lines or author.kind == "bot":
                continue
            self.emit(
                bot,
                "ONIMBOTV2MESSAGEADD",
                {
                    "message": message.entity(chat.id),
                    "chat": chat.entity(),
                    "user": author.entity(),
                    "language": "ru",
                },
            )

    def emit(self, bot: FakeBot, event_type: str, data: dict[str, Any]) -> None:
        """Queue for fetch mode (full bot object) or the webhook outbox (``{id, code, auth}``)."""
        if bot.event_mode == "fetch":
            event = {
                "eventId": next(self._event_ids),
                "type": event_type,
                "date": iso(time.time()),
                "data": {"bot": bot.entity(), **data},
            }
            bot.queue.append(event)
            return
        body = {
            "event": event_type,
            "event_handler_id": str(bot.id + 7000),
            "data": {"bot": {"id": bot.id, "code": bot.code, "auth": self.bot_auth(bot)}, **data},
            "ts": str(int(time.time())),
            "auth": {
                "domain": self.domain,
                "client_endpoint": self.client_endpoint,
                "server_endpoint": f"{self.client_endpoint.removesuffix('/rest/')}/oauth/rest/",
                "member_id": self.member_id,
                "application_token": self.application_token,
            },
        }
        self.outbox.append((bot, body))

    def bot_auth(self, bot: FakeBot) -> dict[str, Any]:
        return {
            "access_token": bot.access_token,
            "expires": str(int(time.time()) + 3600),
            "expires_in": "3600",
            "scope": "imbot,imopenlines",
            "domain": self.domain,
            "server_endpoint": f"{self.client_endpoint.removesuffix('/rest/')}/oauth/rest/",
            "status": "L",
            "client_endpoint": self.client_endpoint,
            "member_id": self.member_id,
            "user_id": str(bot.id),
            "application_token": self.application_token,
        }
