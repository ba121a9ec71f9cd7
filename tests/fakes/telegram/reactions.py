"""setMessageReaction (Bot API 7.0): the bot's one reaction on a message.

SRV (tdlib/telegram-bot-api, Client.cpp): `process_set_message_reaction_query` (l. 13487-13501)
parses the JSON (`get_reaction_types`, `get_reaction_type`, l. 12086-12130), finds the message
(`check_message(..., "message to react")`) and passes the list to TDLib `setMessageReactions`
(TD MessageReaction.cpp l. 1123-1134) and on to the MTProto server, which refuses an emoji
outside the allowed set with REACTION_INVALID (passed through: `Bad Request: REACTION_INVALID`).
The allowed emoji: ReactionTypeEmoji in the Bot API reference (aiogram 3.31
`types/reaction_type_emoji.py`); a group's `available_reactions` may narrow them. "Bots can set
up to one reaction per message": a new one replaces the old, an empty list removes it.

Not settled by source: the error for two reactions at once (REACTIONS_TOO_MANY, an MTProto code)
and for a custom-emoji reaction from a bot without Premium (REACTION_INVALID here).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import REACTION_INVALID, bad_request
from .params import Params
from .state import Handler, World

_EMOJI_LIST = (  # as the reference prints it
    "❤ 👍 👎 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 ❤\u200d🔥 🌚 "
    "🌭 💯 🤣 ⚡ 🍌 🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨\u200d💻 👀 🎃 🙈 😇 😨 🤝 ✍ "
    "🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷\u200d♂ 🤷 🤷\u200d♀ 😡"
)
ALLOWED_EMOJI = frozenset(_EMOJI_LIST.split())


def _reactions(p: Params) -> list[dict[str, Any]]:
    raw = p.values.get("reaction")
    if raw is None or raw == "":
        return []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise bad_request("can't parse reaction types JSON object") from None
    if not isinstance(value, list):
        raise bad_request("expected an Array of ReactionType")
    prefix = "can't parse ReactionType: "
    kept: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request(prefix + "expected an Object")
        kind = item.get("type")
        if kind == "emoji" and isinstance(item.get("emoji"), str):
            kept.append({"type": "emoji", "emoji": item["emoji"]})
        elif kind == "custom_emoji" and item.get("custom_emoji_id"):
            kept.append({"type": "custom_emoji", "custom_emoji_id": str(item["custom_emoji_id"])})
        else:
            raise bad_request(prefix + "invalid reaction type specified")
    return kept


async def set_message_reaction(world: World, p: Params) -> Any:
    reactions = _reactions(p)
    chat = world.chat(p.chat_id())
    message = world.message(chat, p.get_int("message_id"), "message to react not found")
    world.check_can_send(chat)
    if len(reactions) > 1:
        raise bad_request("REACTIONS_TOO_MANY")  # not settled by source, see the docstring
    allowed = (
        ALLOWED_EMOJI
        if chat.available_reactions is None
        else ALLOWED_EMOJI & set(chat.available_reactions)
    )
    for reaction in reactions:
        if reaction["type"] != "emoji" or reaction["emoji"] not in allowed:
            raise bad_request(REACTION_INVALID)
    message.reactions = reactions
    world.signal.notify()
    return True


HANDLERS: dict[str, Handler] = {"setMessageReaction": set_message_reaction}
