"""Message methods: send, edit, delete, copy, forward, chat actions and callback answers.

SRV = tdlib/telegram-bot-api telegram-bot-api/Client.cpp; TD = tdlib/td td/telegram/.
"""

from __future__ import annotations

from typing import Any

from .ephemeral import add_ephemeral, ephemeral_request
from .errors import NOT_MODIFIED, PROTECTED_CONTENT, QUERY_TOO_OLD, VOICE_FORBIDDEN, bad_request
from .formatting import CAPTION_LIMIT, TEXT_LIMIT, format_text
from .models import FakeChat, FakeMessage, FakeTopic
from .params import Params
from .state import Handler, World, validate_reply_markup

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
VOICE_KINDS = ("voice", "video_note")


def target(world: World, p: Params) -> tuple[FakeChat, FakeTopic | None]:
    """The chat and topic a message goes to (SRV `check_message_topic`; closed topics: state.py)."""
    chat = world.chat(p.chat_id())
    topic = world.thread(chat, p.get_int("message_thread_id"))
    world.check_topic_open(chat, topic)
    return chat, topic


def check_voice_allowed(chat: FakeChat, media: dict[str, Any]) -> None:
    """A voice or video note to a person who forbids them: 400 VOICE_MESSAGES_FORBIDDEN.

    TD MessagesManager `process_send_message_fail_error` (l. 27590-27657) keeps a 403 only for a
    few codes; this one is a 400 (SRV `fail_query_with_error` keeps the MTProto code's case).
    """
    user = chat.user
    if user is not None and user.voice_forbidden and any(kind in media for kind in VOICE_KINDS):
        raise bad_request(VOICE_FORBIDDEN)


def post(
    world: World, p: Params, chat: FakeChat, topic: FakeTopic | None, **fields: Any
) -> dict[str, Any]:
    """Store what a send method sends, ephemeral when asked (ephemeral.py); its Message JSON."""
    request = ephemeral_request(world, p, chat)
    if request is not None:
        return add_ephemeral(world, chat, request, topic, **fields).to_json()
    reply_to = world.reply_target(
        chat,
        p.get_json("reply_parameters"),
        p.get_int("reply_to_message_id"),
        p.get_bool("allow_sending_without_reply"),
    )
    world.check_can_send(chat)
    check_voice_allowed(chat, fields.get("media", {}))
    message = world.add_message(
        chat,
        world.bot,
        topic=topic,
        reply_to=reply_to,
        protected=chat.protected_content or p.get_bool("protect_content"),
        **fields,
    )
    return message.to_json()


async def send_message(world: World, p: Params) -> Any:
    text, entities = format_text(
        p.get_str("text"), p.get_str("parse_mode"), p.get_json("entities"), limit=TEXT_LIMIT
    )
    markup = validate_reply_markup(p.get_json("reply_markup"))
    chat, topic = target(world, p)
    return post(world, p, chat, topic, text=text, entities=entities, reply_markup=markup)


def _own_message(world: World, p: Params) -> FakeMessage:
    if p.has("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")  # simplified: inline messages are not modelled
    chat = world.chat(p.chat_id())
    message = world.message(chat, p.get_int("message_id"), "message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    world.check_can_send(chat)
    return message


async def edit_message_text(world: World, p: Params) -> Any:
    message = _own_message(world, p)
    text, entities = format_text(
        p.get_str("text"), p.get_str("parse_mode"), p.get_json("entities"), limit=TEXT_LIMIT
    )
    markup = validate_reply_markup(p.get_json("reply_markup"))
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    if (message.text, message.entities, message.reply_markup) == (text, entities, markup):
        raise bad_request(NOT_MODIFIED)
    message.text, message.entities, message.reply_markup = text, entities, markup
    message.edit_date = world.now()
    world.signal.notify()
    return message.to_json()


async def edit_message_reply_markup(world: World, p: Params) -> Any:
    message = _own_message(world, p)
    markup = validate_reply_markup(p.get_json("reply_markup"))
    if message.reply_markup == markup:
        raise bad_request(NOT_MODIFIED)
    message.reply_markup = markup
    message.edit_date = world.now()
    world.signal.notify()
    return message.to_json()


async def delete_message(world: World, p: Params) -> Any:
    chat = world.chat(p.chat_id())
    message = world.message(chat, p.get_int("message_id"), "message to delete not found")
    if (
        not message.from_bot
        and not chat.is_private
        and not world.has_right(chat, "can_delete_messages")
    ):
        raise bad_request("message can't be deleted")
    message.deleted = True
    world.signal.notify()
    return True


async def answer_callback_query(world: World, p: Params) -> Any:
    """SRV `process_answer_callback_query_query` (l. 14319-14329) -> MTProto
    `messages.setBotCallbackAnswer`; a late, repeated or unknown answer gets QUERY_ID_INVALID,
    which SRV rewrites (l. 146-148) to "query is too old and response timeout expired or query
    ID is invalid". The window is not published (reports: ~10-15 s): `callback_answer_window`,
    on the server clock. A second answer to the same query is refused too (reports say so;
    the sources cannot settle it).
    """
    query = world.callbacks.get(p.get_str("callback_query_id") or "")
    too_late = query is not None and (
        world.clock.now() - query.created > world.callback_answer_window
    )
    if query is None or query.answered or too_late:
        raise bad_request(QUERY_TOO_OLD)
    text = p.get_str("text") or ""
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answered = True
    query.answer = {
        "text": text or None,
        "show_alert": p.get_bool("show_alert"),
        "url": p.get_str("url"),
        "cache_time": p.get_int("cache_time", 0),
    }
    world.signal.notify()
    return True


async def send_chat_action(world: World, p: Params) -> Any:
    chat, _topic = target(world, p)
    if p.get_str("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    world.check_can_send(chat)
    return True


def caption_of(p: Params) -> tuple[str | None, list[dict[str, Any]]]:
    if p.get_str("caption") is None:
        return None, []
    return format_text(
        p.get_str("caption"),
        p.get_str("parse_mode"),
        p.get_json("caption_entities"),
        limit=CAPTION_LIMIT,
        caption=True,
    )


def _source(world: World, p: Params, missing: str) -> FakeMessage:
    """The message to copy or forward. Service messages cannot be copied; a chat with protected
    content ("Restrict saving content") refuses both: CHAT_FORWARDS_RESTRICTED, which TD turns
    into "message has protected content and can't be forwarded" (MessagesManager l. 27622-27623).
    """
    source_chat = world.chat(p.chat_id("from_chat_id"))
    source = world.message(source_chat, p.get_int("message_id"), missing)
    if source.service:
        raise bad_request("message can't be copied")
    if source_chat.protected_content or source.protected:
        raise bad_request(PROTECTED_CONTENT)
    return source


async def copy_message(world: World, p: Params) -> Any:
    """SRV `process_copy_message_query` (l. 13238-13260): text and entities copied as they are
    (TD drops only custom emoji the bot may not use, never an error); `caption` replaces the
    caption of media; the result is `{"message_id": N}` only (l. 12578-12579). Ephemeral
    parameters are not among copyMessage's and are ignored like any unknown parameter.
    """
    source = _source(world, p, "message to copy not found")
    chat, topic = target(world, p)
    caption, caption_entities = caption_of(p)
    if caption is None and source.caption is not None:
        caption, caption_entities = source.caption, source.caption_entities
    markup = validate_reply_markup(p.get_json("reply_markup"))
    reply_to = world.reply_target(
        chat,
        p.get_json("reply_parameters"),
        p.get_int("reply_to_message_id"),
        p.get_bool("allow_sending_without_reply"),
    )
    world.check_can_send(chat)
    check_voice_allowed(chat, source.media)
    copy = world.add_message(
        chat,
        world.bot,
        topic=topic,
        reply_to=reply_to,
        text=source.text,
        entities=list(source.entities),
        media=dict(source.media),
        caption=caption if source.media else None,
        caption_entities=caption_entities if source.media else [],
        reply_markup=markup,
        protected=chat.protected_content or p.get_bool("protect_content"),
    )
    return {"message_id": copy.message_id}


async def forward_message(world: World, p: Params) -> Any:
    source = _source(world, p, "message to forward not found")
    chat, topic = target(world, p)
    world.check_can_send(chat)
    check_voice_allowed(chat, source.media)
    origin = (
        {"type": "user", "sender_user": source.sender.to_json(), "date": source.date}
        if source.sender is not None
        else {"type": "hidden_user", "sender_user_name": "Hidden", "date": source.date}
    )
    forwarded = world.add_message(
        chat,
        world.bot,
        topic=topic,
        text=source.text,
        entities=list(source.entities),
        media=dict(source.media),
        caption=source.caption,
        caption_entities=list(source.caption_entities),
        forward_origin=origin,
    )
    return forwarded.to_json()


HANDLERS: dict[str, Handler] = {
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "answerCallbackQuery": answer_callback_query,
    "sendChatAction": send_chat_action,
    "copyMessage": copy_message,
    "forwardMessage": forward_message,
}
