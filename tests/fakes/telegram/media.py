"""Media methods: sendPhoto, sendDocument, sendVoice, sendVideoNote and getFile.

A voice note or video note to a person who forbids them is refused with 400
VOICE_MESSAGES_FORBIDDEN (messages.py `check_voice_allowed`).
"""

from __future__ import annotations

from typing import Any

from .errors import bad_request
from .messages import caption_of, post, target
from .params import Params
from .state import Handler, World, validate_reply_markup


async def _send_media(world: World, p: Params, kind: str) -> Any:
    caption, caption_entities = caption_of(p) if kind != "video_note" else (None, [])
    markup = validate_reply_markup(p.get_json("reply_markup"))
    chat, topic = target(world, p)
    stored = world.file(p.get_str(kind), p.upload(kind), kind)
    base = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.content),
    }
    media: dict[str, Any]
    if kind == "photo":
        media = {"photo": [{**base, "width": 640, "height": 480}]}
    elif kind == "voice":
        media = {"voice": {**base, "duration": p.get_int("duration", 1), "mime_type": "audio/ogg"}}
    elif kind == "video_note":
        media = {"video_note": {**base, "length": 240, "duration": p.get_int("duration", 1)}}
    else:
        media = {"document": {**base, "file_name": stored.path.rsplit("/", 1)[-1]}}
    return post(
        world,
        p,
        chat,
        topic,
        media=media,
        caption=caption,
        caption_entities=caption_entities,
        reply_markup=markup,
    )


async def send_photo(world: World, p: Params) -> Any:
    return await _send_media(world, p, "photo")


async def send_document(world: World, p: Params) -> Any:
    return await _send_media(world, p, "document")


async def send_voice(world: World, p: Params) -> Any:
    return await _send_media(world, p, "voice")


async def send_video_note(world: World, p: Params) -> Any:
    return await _send_media(world, p, "video_note")


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
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "sendVoice": send_voice,
    "sendVideoNote": send_video_note,
    "getFile": get_file,
}
