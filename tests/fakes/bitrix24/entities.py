"""The fake portal's records: users, bots and their commands, open-line chats, messages, sessions.

Sources are cited as ``file:line`` of the public core mirror ``yuliai/bitrix-modules`` at
``a3a2a579`` (REST revision 33) unless another repository is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

UserKind = Literal["employee", "connector", "bot"]
SessionState = Literal["bot", "queue", "operator", "closed"]
MessageKind = Literal["customer", "operator", "bot", "system"]


class FakeApiError(Exception):
    """A method failure, rendered as ``{"error", "error_description"}`` with ``status``.

    400 by default: ``RestManager::createExceptionFromErrors`` builds a ``RestException`` with no
    status for every controller error, and ``RestException::getStatus`` turns 0 into 400
    (``rest/lib/engine/restmanager.php:351-367``, ``rest/lib/restexception.php:43-46``).
    """

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status


def binder_error(description: str) -> FakeApiError:
    """A parameter the controller cannot bind: ``BinderArgumentException`` is an
    ``ArgumentException`` (code 100, ``main/lib/ArgumentException.php``), which
    ``Controller::buildErrorFromException`` turns into ``Error(message, 100)``: the wire says
    ``{"error": "100"}`` with HTTP 400 (``main/lib/engine/autowire/binder.php:getParameterValue``).
    """
    return FakeApiError("100", description)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone().isoformat(timespec="seconds")


@dataclass
class FakeUser:
    """A portal user. Connector users (``EXTERNAL_AUTH_ID=imconnector``, no department) are
    extranet on any Bitrix24: ``CIMContactList::IsExtranet`` is ``!isEmployee``
    (``im/classes/general/im_contact_list.php:1869-1896``, ``UserFactory.php:205-208``)."""

    id: int
    name: str
    kind: UserKind = "employee"
    active: bool = True

    @property
    def extranet(self) -> bool:
        return self.kind == "connector"  # bots are never extranet (IsExtranet returns false)

    def entity(self) -> dict[str, Any]:
        """The v2 user (``im/lib/V2/Entity/User/User.php:346-374``); ``type`` is ``user`` for
        employees in source (``UserType.php``), not the docs' ``employee``."""
        first, _, last = self.name.partition(" ")
        return {
            "id": self.id,
            "active": self.active,
            "name": self.name,
            "firstName": first,
            "lastName": last,
            "extranet": self.extranet,
            "network": False,
            "bot": self.kind == "bot",
            "connector": self.kind == "connector",
            "externalAuthId": {"connector": "imconnector", "bot": "bot"}.get(self.kind, "default"),
            "type": {"connector": "extranet", "bot": "bot"}.get(self.kind, "user"),
            "departments": [1] if self.kind == "employee" else [],
        }


@dataclass
class FakeCommand:
    """A registered command (``b_im_command``); flags as ``Command.register`` stores them."""

    id: int
    bot_id: int
    name: str  # without the leading "/"
    app: str  # the owner's client id: "app:<client_id>" or "token:<botToken>"
    common: bool = False
    hidden: bool = False
    extranet_support: bool = False  # EXTRANET_SUPPORT defaults to N (Command.php:120)
    titles: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def entity(self) -> dict[str, Any]:
        """``Command::formatCommand`` (``imbot/lib/V2/Controller/Command.php:465``)."""
        return {
            "id": self.id,
            "botId": self.bot_id,
            "command": f"/{self.name}",
            "common": self.common,
            "hidden": self.hidden,
            "extranetSupport": self.extranet_support,
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
    commands: dict[str, FakeCommand] = field(default_factory=dict)  # by name without "/"
    queue: list[dict[str, Any]] = field(default_factory=list)  # fetch mode, oldest first
    queued_at: dict[int, float] = field(default_factory=dict)  # eventId -> when written
    access_token: str = ""

    @property
    def serves_open_lines(self) -> bool:
        """``OPENLINE = Y``: an ``openline`` bot or one registered with ``isSupportOpenline``."""
        return self.type == "openline" or self.is_support_openline

    @property
    def app_code(self) -> str:
        """``APP_ID`` as the core stores it: the OAuth client id, or ``"custom" + botToken``
        (``BotController::buildCustomClientId``, ``BotController.php:197-200``)."""
        kind, _, value = self.owner.partition(":")
        return value if kind == "app" else f"custom{value}"

    def entity(self, *, owner_format: bool = True, revision: int = 36) -> dict[str, Any]:
        """``BotItem::toRestFormat`` (``im/lib/V2/Entity/Bot/BotItem.php:62-94``): the brief
        format for others, the owner format adds ``moduleId``, ``eventMode`` and counters;
        ``appId`` was there until revision 35 (change log BOT-FIX-0501-3)."""
        result: dict[str, Any] = {
            "id": self.id,
            "code": self.code,
            "type": self.type,
            "isHidden": False,
            "isSupportOpenline": self.serves_open_lines,
            "isReactionsEnabled": True,
            "backgroundId": None,
            "language": "ru",
        }
        if owner_format:
            result["moduleId"] = "rest"
            if revision < 35:
                result["appId"] = self.app_code
            result.update(
                eventMode=self.event_mode,
                countMessage=0,
                countCommand=len(self.commands),
                countChat=0,
                countUser=0,
            )
        return result


@dataclass
class FakeMessage:
    id: int
    dialog_id: str
    author_id: int
    text: str
    kind: MessageKind
    keyboard: list[dict[str, Any]] = field(default_factory=list)
    date: float = 0.0
    pressed: set[str] = field(default_factory=set)
    uuid: str = ""  # the sender's templateId, when it gave a valid one
    skip_connector: bool = False  # SKIP_CONNECTOR=Y: never forwarded to the customer
    silent_connector: bool = False  # SILENT_CONNECTOR=Y: shown to operators as hidden
    widget_copy_id: int = 0  # livechat: the id of the copy posted in the widget chat

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [b for b in self.keyboard if b.get("TYPE") != "NEWLINE"]

    def entity(self, chat_id: int, *, message_id: int | None = None) -> dict[str, Any]:
        return {
            "id": self.id if message_id is None else message_id,
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
    """An open-line session; ``operator_id`` is the session's ``OPERATOR_ID`` (a bot while the
    bot holds it, ``session.php:958-960``)."""

    id: int
    state: SessionState
    bot_id: int | None
    operator_id: int = 0
    started: float = 0.0


@dataclass
class FakeChat:
    """An open-line chat (entity type LINES) between a connector customer and the line.

    ``owner`` is the chat's ``AUTHOR_ID``, which every v2 event carries as ``chat.owner``
    (``im/lib/V2/Chat.php:3606``): the welcome bot while it holds the session, 0 after a hand-off
    to the queue, the operator who answered, intercepted or was assigned by the queue.
    """

    id: int
    line_id: int
    connector: str
    customer: FakeUser
    session: FakeSession
    remote_chat_id: int  # the widget's LIVECHAT chat id, or the external chat id
    members: set[int] = field(default_factory=set)
    sessions: list[FakeSession] = field(default_factory=list)
    owner: int = 0
    waiting_vote: bool = False  # the closed session waits for the customer's rating
    votes: list[int] = field(default_factory=list)

    @property
    def dialog_id(self) -> str:
        return f"chat{self.id}"

    @property
    def entity_id(self) -> str:
        """``connector|line|connectorChatId|userId`` (``Connector::getUserCode``,
        ``imopenlines/lib/connector.php:1207-1210``): for ``livechat`` the third field is the
        widget-side LIVECHAT chat (``im_messenger.php:1642``), elsewhere the external chat id."""
        return f"{self.connector}|{self.line_id}|{self.remote_chat_id}|{self.customer.id}"

    def entity(self) -> dict[str, Any]:
        # entityData1 = CRM|CRM_ENTITY_TYPE|CRM_ENTITY_ID|PAUSE|WAIT_ACTION|SESSION_ID|DATE_CREATE|
        # LINE_ID|BLOCK_DATE|BLOCK_REASON (imopenlines/lib/chat.php:2358-2420): no operator field.
        session = self.session
        return {
            "id": self.id,
            "dialogId": self.dialog_id,
            "type": "lines",
            "name": f"{self.customer.name} - Open Line {self.line_id}",
            "entityType": "LINES",
            "entityId": self.entity_id,
            "entityData1": f"N|NONE|0|N|N|{session.id}|{int(session.started)}|{self.line_id}|0|",
            "entityData2": "LEAD|0|COMPANY|0|CONTACT|0|DEAL|0",
            "entityData3": "",
            "owner": self.owner,
            "avatar": "",
            "color": "#ab7761",
        }


@dataclass(frozen=True)
class Transfer:
    """A bot's session action: ``operator`` (to the line's queue), ``transfer`` or ``finish``.

    ``stolen_from`` is set when a ``finish`` took the chat from someone else first: the core's
    ``botSessionFinish`` calls ``answer(bot)`` with no ownership check
    (``imopenlines/lib/rest.php:876-903``).
    """

    chat_id: int
    session_id: int
    bot_id: int | None
    kind: Literal["operator", "transfer", "finish"]
    target: str = ""
    stolen_from: int | None = None


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


@dataclass(frozen=True)
class DroppedPress:
    """A keyboard press no command took: the REST call answered ``true``, no event was written
    (``Im\\Command::onCommandAdd`` returns false, ``im/lib/command.php:302-411``)."""

    chat_id: int
    command: str
    params: str
    why: str


@dataclass
class LineConfig:
    welcome_bot_id: int | None = None  # None: the first registered open-line bot
    welcome_bot_left: Literal["queue", "close"] = "queue"
    signature: bool = False  # isEnableSendMessageWithSignature (connector.php:1800-1810)


@dataclass
class UuidRecord:
    """A row of ``b_im_message_uuid``: ``message_id`` stays None until the send completes."""

    created: float
    message_id: int | None = None


@dataclass(frozen=True)
class SendFault:
    """How the next send with a valid uuid goes wrong after registering it: ``in_flight`` (it
    completes only after ``seconds``) or ``failed`` (HTTP ``status``; ``posted``: the message was
    stored, its id never written back)."""

    kind: Literal["in_flight", "failed"]
    seconds: float = 0.0
    status: int = 400
    posted: bool = False
