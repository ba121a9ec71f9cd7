"""The fake portal's state: people, bots, chats, messages with their uuid windows, event output.

Every rule cites the public core mirror ``yuliai/bitrix-modules`` at ``a3a2a579`` (REST revision
33) as ``file:line`` and names the function; the research behind them is issue 13's.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from .entities import (
    DroppedPress,
    FakeApiError,
    FakeBot,
    FakeChat,
    FakeMessage,
    FakeUser,
    LineConfig,
    MessageKind,
    SendFault,
    Transfer,
    UserKind,
    UuidRecord,
    iso,
)
from .lines import OpenLines

# Im\Message\Uuid::validate (im/lib/Message/Uuid.php:87-92): lower-case UUIDv4 only, no flags.
UUID_FORM = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
UUID_TTL = 3600.0  # Uuid::TTL: a uuid without a message blocks resends this long
UUID_KEPT = 31 * 86400.0  # Uuid::cleanOldRecords deletes rows older than 31 days
EVENT_TTL = 24 * 3600.0  # EventService::EXPIRY_HOURS (im/lib/V2/EventLog/EventService.php)
MAX_TEXT = 20_000  # Message::MESSAGE_MAX_LENGTH (im/lib/V2/Message.php:65)


def stored_text(text: str) -> str:
    """``Message::setMessage`` (``im/lib/V2/Message.php:949-960``): ``[BR]``, ``[br]`` and
    ``#BR#`` become newlines, the text is trimmed, and beyond 20,006 characters it is cut to
    20,000 plus `` (...)``."""
    text = text.replace("[BR]", "\n").replace("[br]", "\n").replace("#BR#", "\n").strip()
    if len(text) > MAX_TEXT + 6:
        text = text[:MAX_TEXT] + " (...)"
    return text


@dataclass
class Deferred(Exception):
    """A send still in flight: the wire waits ``delay`` seconds, then ``finish()`` completes it
    and gives the method's result (a uuid is registered meanwhile without its message)."""

    delay: float
    finish: Callable[[], Any] = field(repr=False)


class Portal(OpenLines):
    """Everything the fake portal knows; synchronous, so methods and drivers share it safely."""

    def __init__(
        self,
        domain: str,
        member_id: str,
        application_token: str,
        *,
        clock: Callable[[], float] = time.time,
        revision: int = 36,
        event_format: Literal["nextOffset", "lastEventId"] | None = None,
        require_client_id_in_url: bool = True,
    ) -> None:
        self.domain = domain
        self.member_id = member_id
        self.application_token = application_token
        self.now = clock
        self.revision = revision
        # BOT-BC-0325-1 (25.03.2026) replaced lastEventId; both public releases with imbot.v2
        # (REST 32 and 33) already answer nextOffset, so only older (cloud) revisions use it.
        self.event_format = event_format or ("lastEventId" if revision < 32 else "nextOffset")
        self.require_client_id_in_url = require_client_id_in_url
        self.update_fills_keyboard_bot_id = False  # unsettled: see chatmethods.message_update
        self.client_endpoint = ""  # set once the server knows its URL
        self._ids = itertools.count(100)
        self._event_ids = itertools.count(1)
        self.users: dict[int, FakeUser] = {1: FakeUser(1, "Portal Admin")}
        self.bots: dict[int, FakeBot] = {}
        self.chats: dict[int, FakeChat] = {}
        self.dialogs: dict[str, list[FakeMessage]] = {}
        self.messages: dict[int, FakeMessage] = {}
        self.uuids: dict[str, UuidRecord] = {}
        self.lines: dict[int, LineConfig] = {}
        self.transfers: list[Transfer] = []
        self.outbox: list[tuple[FakeBot, dict[str, Any]]] = []  # webhook-mode events to POST
        self.undelivered: list[tuple[int, str, str]] = []  # (bot id, event, why) never POSTed
        self.dropped_presses: list[DroppedPress] = []
        self.send_faults: list[SendFault] = []  # for the next sends with a valid uuid

    # -- people and lines --------------------------------------------------------------------

    def new_id(self) -> int:
        return next(self._ids)

    def add_user(self, name: str, kind: UserKind = "employee") -> FakeUser:
        user = FakeUser(self.new_id(), name, kind)
        self.users[user.id] = user
        return user

    def is_bot(self, user_id: int) -> bool:
        return user_id in self.bots

    def is_real_operator(self, user_id: int) -> bool:
        """``Queue::isRealOperator`` (``imopenlines/lib/queue.php:660-678``): not a bot, not a
        connector user."""
        user = self.users.get(user_id)
        return user is not None and user.kind == "employee"

    def line(self, line_id: int) -> LineConfig:
        return self.lines.setdefault(line_id, LineConfig())

    def welcome_bot(self, line_id: int) -> FakeBot | None:
        wanted = self.line(line_id).welcome_bot_id
        if wanted is not None:
            return self.bots.get(wanted)
        return next((b for b in self.bots.values() if b.serves_open_lines), None)

    def chat_of(self, dialog_id: str) -> FakeChat | None:
        if dialog_id.startswith("chat") and dialog_id[4:].isdigit():
            return self.chats.get(int(dialog_id[4:]))
        return None

    # -- messages ----------------------------------------------------------------------------

    def post(
        self,
        dialog_id: str,
        author_id: int,
        text: str,
        kind: MessageKind,
        keyboard: list[dict[str, Any]] | None = None,
        uuid: str = "",
    ) -> FakeMessage:
        """Add a message, deduplicated by ``uuid`` as ``SendingService::checkDuplicateByUuid``
        does (``im/lib/V2/Message/Send/SendingService.php:59-92``):

        * only a non-system message whose uuid passes ``Uuid::validate`` is checked;
        * a new uuid is registered (``INSERT IGNORE``), the message posted, its id written back;
        * a uuid with a message answers that message, posting nothing (kept 31 days);
        * a uuid without a message, younger than an hour: ``MESSAGE_DUPLICATED_BY_UUID``; older:
          re-stamped (``updateIfExpired``) and the message is posted.
        """
        now = self.now()
        record: UuidRecord | None = None
        if uuid and kind != "system" and UUID_FORM.fullmatch(uuid):
            self.uuids = {k: r for k, r in self.uuids.items() if now - r.created <= UUID_KEPT}
            record = self.uuids.get(uuid)
            if record is None:
                record = self.uuids[uuid] = UuidRecord(now)
            elif record.message_id is not None:
                return self.messages[record.message_id]
            elif now - record.created <= UUID_TTL:
                raise FakeApiError(
                    "MESSAGE_DUPLICATED_BY_UUID", "Message with this uuid is already being sent"
                )
            else:
                record.created = now
        else:
            uuid = ""
        fault = self.send_faults.pop(0) if record is not None and self.send_faults else None
        if fault is not None:
            return self._faulty_post(fault, dialog_id, author_id, text, kind, keyboard, uuid)
        message = self._append(dialog_id, author_id, text, kind, keyboard, uuid)
        if record is not None:
            record.message_id = message.id  # Uuid::updateMessageId in onAfterMessageSend
        return message

    def _faulty_post(
        self,
        fault: SendFault,
        dialog_id: str,
        author_id: int,
        text: str,
        kind: MessageKind,
        keyboard: list[dict[str, Any]] | None,
        uuid: str,
    ) -> FakeMessage:
        """A send that registered its uuid and then failed, or is still running."""
        if fault.kind == "in_flight":

            def finish() -> FakeMessage:
                message = self._append(dialog_id, author_id, text, kind, keyboard, uuid)
                self.uuids[uuid].message_id = message.id
                return message

            raise Deferred(fault.seconds, finish)
        if fault.posted:  # stored, but its id never written back to the uuid row
            self._append(dialog_id, author_id, text, kind, keyboard, uuid)
        if fault.status >= 500:
            raise FakeApiError("INTERNAL_SERVER_ERROR", "Internal server error", 500)
        # CIMMessenger::Add returned false with no application exception: SENDING_FAILED.
        raise FakeApiError("SENDING_FAILED", "Message sending failed")

    def _append(
        self,
        dialog_id: str,
        author_id: int,
        text: str,
        kind: MessageKind,
        keyboard: list[dict[str, Any]] | None,
        uuid: str,
    ) -> FakeMessage:
        message = FakeMessage(
            self.new_id(), dialog_id, author_id, stored_text(text), kind, keyboard or []
        )
        message.date, message.uuid = self.now(), uuid
        self.dialogs.setdefault(dialog_id, []).append(message)
        self.messages[message.id] = message
        return message

    # -- events ------------------------------------------------------------------------------

    def emit(self, bot: FakeBot, event_type: str, data: dict[str, Any]) -> None:
        """Fetch mode: a row of the bot's event log with its own ``eventId``
        (``EventLogger::writeToLog``, ``im/lib/V2/EventLog/EventLogger.php:229-260``). Webhook
        mode: one form POST (``rest/lib/event/sender.php``), or none at all when a
        webhook-registered bot's handler URL lacks ``CLIENT_ID=<botToken>`` and this portal
        requires it (``BotWebhookPayloadBuilder::resolveAppCode``, ``BotWebhookPayloadBuilder.php:
        205-218``: "Event is intended for another application" is caught and nothing is sent)."""
        if bot.event_mode == "fetch":
            event_id = next(self._event_ids)
            bot.queued_at[event_id] = self.now()
            bot.queue.append(
                {
                    "eventId": event_id,
                    "type": event_type,
                    "date": iso(self.now()),
                    "data": {"bot": bot.entity(revision=self.revision), **data},
                }
            )
            return
        if self.require_client_id_in_url and bot.owner.startswith("token:"):
            query = dict((k.upper(), v) for k, v in parse_qsl(urlsplit(bot.webhook_url).query))
            if f"token:{query.get('CLIENT_ID', '')}" != bot.owner:
                self.undelivered.append(
                    (bot.id, event_type, "Event is intended for another application")
                )
                return
        webhook_bot: dict[str, Any] = {"id": bot.id, "code": bot.code}
        if bot.owner.startswith("app:"):  # an app-less handler has no bot token (getAuth -> [])
            webhook_bot["auth"] = self.bot_auth(bot)
        body = {
            "event": event_type,
            "event_handler_id": str(bot.id + 7000),
            "data": {"bot": webhook_bot, **data},
            "ts": str(int(self.now())),
            "auth": {
                "domain": self.domain,
                "client_endpoint": self.client_endpoint,
                "server_endpoint": self.server_endpoint,
                "member_id": self.member_id,
                "application_token": self.event_token(bot),
            },
        }
        self.outbox.append((bot, body))

    def event_token(self, bot: FakeBot) -> str:
        """``auth[application_token]`` of the bot's events: an OAuth app's token, the one
        ONAPPINSTALL carried (``CRestUtil::getApplicationToken``, ``rest/lib/event/sender.php:
        236-244``); a webhook-registered v2 bot's subscriptions carry ``"custom" + botToken``
        (``Bot::bindV2RestEvents``, ``imbot/lib/V2/Controller/Bot.php:461-515``, sent as is for
        app-less handlers, ``sender.php:258``). Source-read, not documented."""
        return self.application_token if bot.owner.startswith("app:") else bot.app_code

    @property
    def server_endpoint(self) -> str:
        return f"{self.client_endpoint.removesuffix('/rest/')}/oauth/rest/"

    def bot_auth(self, bot: FakeBot) -> dict[str, Any]:
        """``data[bot][auth]`` of an OAuth app's bot (``imbot/lib/restservice.php:31-39``)."""
        if not bot.access_token:
            bot.access_token = secrets.token_hex(16)
        return {
            "access_token": bot.access_token,
            "expires": str(int(self.now()) + 3600),
            "expires_in": "3600",
            "scope": "imbot,imopenlines",
            "domain": self.domain,
            "server_endpoint": self.server_endpoint,
            "status": "L",
            "client_endpoint": self.client_endpoint,
            "member_id": self.member_id,
            "user_id": str(bot.id),
            "application_token": self.application_token,
        }
