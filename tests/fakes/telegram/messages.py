"""Message methods: send, edit, copy, forward, media, chat actions and callback answers."""

from __future__ import annotations

from typing import Any

from .errors import NOT_MODIFIED, QUERY_TOO_OLD, bad_request
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


def _target(world: World, p: Params) -> tuple[FakeChat, FakeTopic | None]:
    chat = world.chat(p.chat_id())
    topic = world.thread(chat, p.get_int("message_thread_id"))
    if topic is not None and topic.closed:
        raise bad_request("TOPIC_CLOSED")
    return chat, topic


def _reply_to(world: World, chat: FakeChat, p: Params) -> FakeMessage | None:
    return world.reply_target(
        chat,
        p.get_json("reply_parameters"),
        p.get_int("reply_to_message_id"),
        p.get_bool("allow_sending_without_reply"),
    )


async def send_message(world: World, p: Params) -> Any:
    chat = world.chat(p.chat_id())
    text, entities = format_text(
        p.get_str("text"), p.get_str("parse_mode"), p.get_json("entities"), limit=TEXT_LIMIT
    )
    markup = validate_reply_markup(p.get_json("reply_markup"))
    chat, topic = _target(world, p)
    reply_to = _reply_to(world, chat, p)
    world.check_can_send(chat)
    message = world.add_message(
        chat,
        world.bot,
        topic=topic,
        reply_to=reply_to,
        text=text,
        entities=entities,
        reply_markup=markup,
    )
    return message.to_json()


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
    query = world.callbacks.get(p.get_str("callback_query_id") or "")
    if query is None or query.answered:
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
    chat, _topic = _target(world, p)
    if p.get_str("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    world.check_can_send(chat)
    return True


def _caption(p: Params) -> tuple[str | None, list[dict[str, Any]]]:
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
    source_chat = world.chat(p.chat_id("from_chat_id"))
    source = world.message(source_chat, p.get_int("message_id"), missing)
    if source.service:
        raise bad_request("message can't be copied")
    return source


async def copy_message(world: World, p: Params) -> Any:
    source = _source(world, p, "message to copy not found")
    chat, topic = _target(world, p)
    caption, caption_entities = _caption(p)
    if caption is None and source.caption is not None:
        caption, caption_entities = source.caption, source.caption_entities
    markup = validate_reply_markup(p.get_json("reply_markup"))
    reply_to = _reply_to(world, chat, p)
    world.check_can_send(chat)
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
    )
    return {"message_id": copy.message_id}


async def forward_message(world: World, p: Params) -> Any:
    source = _source(world, p, "message to forward not found")
    chat, topic = _target(world, p)
    world.check_can_send(chat)
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


async def _send_media(world: World, p: Params, kind: str) -> Any:
    chat = world.chat(p.chat_id())
    caption, caption_entities = _caption(p)
    markup = validate_reply_markup(p.get_json("reply_markup"))
    chat, topic = _target(world, p)
    reply_to = _reply_to(world, chat, p)
    world.check_can_send(chat)
    stored = world.file(p.get_str(kind), p.upload(kind), kind)
    base = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.content),
    }
    media: dict[str, Any]
    if kind == "photo":
        media = {"photo": [{**base, "width": 640, "height": 480}]}
    else:
        media = {"document": {**base, "file_name": stored.path.rsplit("/", 1)[-1]}}
    message = world.add_message(
        chat,
        world.bot,
        topic=topic,
        reply_to=reply_to,
        media=media,
        caption=caption,
        caption_entities=caption_entities,
        reply_markup=markup,
    )
    return message.to_json()


async def send_photo(world: World, p: Params) -> Any:
    return await _send_media(world, p, "photo")


async def send_document(world: World, p: Params) -> Any:
    return await _send_media(world, p, "document")


async def get_file(world: World, p: Params) -> Any:
    stored = world.files.get(p.get_str("file_id") or "")
    if stored is None:
        raise bad_request("invalid file_id")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.content),
        "file_path": stored.path,
    }


HANDLERS: dict[str, Handler] = {
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "answerCallbackQuery": answer_callback_query,
    "sendChatAction": send_chat_action,
    "copyMessage": copy_message,
    "forwardMessage": forward_message,
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "getFile": get_file,
}
