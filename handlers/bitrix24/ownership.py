"""Whose the open-line session is: the one place that decides whether the bot may speak.

The bot answers only in a session it holds. Read from the core the fake portal cites
(``tests/fakes/bitrix24``) and ``docs/bitrix24-live-checks.md`` §3 and §11:

* Every event carries the chat's owner (``data.chat.owner``): the bot while it holds the session,
  0 once the session went to the line's queue (our hand-off, a bare ``0``, the bot's time ran
  out), the operator who answered, intercepted or was given the chat by the queue. An operator
  may take the chat while the bot stays a member (``WELCOME_BOT_LEFT=close``), and no event says
  so: the owner of the next event does.
* An operator may also join and write without taking the chat (the owner stays the bot): once a
  real operator has written, the session is theirs.
* A message that is just ``0`` ends the bot's session after the bots got it
  (``Bot::onMessageAdd``): it must not be answered.
* A session the bot has not seen before is its own whatever the owner says (§3 step 5: not
  proven that its first event already names the bot).

``imopenlines.bot.session.finish`` takes the chat from whoever holds it
(``Rest::botSessionFinish`` has no ownership check), so before finishing, :func:`bot_holds` asks
the portal (``imbot.v2.Chat.get``) who owns the chat now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from handlers.bitrix24.events import ChatEvent, session_of
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.rest.api import Bitrix24Api
from handlers.bitrix24.rest.errors import Bitrix24Error

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``why`` the bot stays silent ("" when it answers); ``taken``: the session is not the
    bot's from now on (remembered until a new session starts); ``to_line``: the customer wrote
    to the line's people (a session the bot handed off or lost), so their message belongs in the
    conversation's history although the bot does not answer it."""

    why: str = ""
    taken: bool = False
    to_line: bool = False

    @property
    def speaks(self) -> bool:
        return not self.why


def judge(event: ChatEvent, chat: BitrixChat | None) -> Verdict:
    """Whether the bot answers ``event`` in ``chat`` (its row, None when never seen)."""
    if not event.in_open_line:
        return Verdict("not an open line")
    if not event.user_id or not event.dialog_id:
        return Verdict("no author or chat")
    if event.from_bot:
        return Verdict("a bot wrote")
    if not event.from_customer:
        return Verdict("an operator wrote in the session", taken=True)
    new = chat is None or (bool(event.session_id) and event.session_id != chat.session_id)
    handed = None if chat is None else chat.handed_session
    if not new and handed is not None and event.session_id in ("", handed):
        return Verdict("the line's operators have the chat", to_line=True)
    if event.kind == "command" and not event.payload:
        return Verdict("a command without a payload")
    if event.kind == "message" and event.text.strip() == "0":
        return Verdict("a bare 0 hands the chat to the line's queue", taken=True, to_line=True)
    if not new and event.owner is not None and event.owner != event.bot_id:
        holder = "the line's queue" if event.owner == 0 else f"user {event.owner}"
        return Verdict(f"the chat is with {holder}", taken=True, to_line=True)
    return Verdict()


async def bot_holds(client: Bitrix24Api, chat: BitrixChat) -> bool:
    """Whether the bot still owns ``chat``'s session it last saw (asked of the portal)."""
    try:
        result: Any = await client.call(
            "imbot.v2.Chat.get", {"botId": chat.bot_id, "dialogId": chat.dialog_id}
        )
    except Bitrix24Error as exc:
        if exc.retryable:
            raise
        log.info("bitrix chat not the bot's chat=%s code=%s", chat.chat_id, exc.code)
        return False  # ACCESS_DENIED: the bot is no longer a member
    found = result.get("chat") if isinstance(result, dict) else None
    if not isinstance(found, dict):
        return False
    owner, session = found.get("owner"), session_of(found)
    held = str(owner) == str(chat.bot_id) and session in ("", chat.session_id)
    if not held:
        log.info(
            "bitrix chat taken chat=%s owner=%s session=%s", chat.chat_id, owner, session or "?"
        )
    return held
