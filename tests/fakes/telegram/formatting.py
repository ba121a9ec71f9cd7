"""Message text checks: HTML parse mode as TDLib parses it, and the length limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_SUPPORTED_TAGS = {*_SIMPLE_TAGS, "a", "span", "blockquote", "tg-emoji", "tg-time"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n"
_PLAIN = re.compile(r"[^&<]+")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    tag: str
    attributes: dict[str, str]
    offset: int
    flags: set[str] = field(default_factory=set)


class _HtmlParser:
    """A port of TDLib's parse_html loop: same accepted tags and the same error texts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.out_len = 0  # in UTF-16 code units, the unit of entity offsets
        self.entities: list[dict[str, Any]] = []
        self.stack: list[_Open] = []

    def _byte_offset(self, index: int) -> int:
        return len(self.text[:index].encode("utf-8"))

    def _error(self, text: str) -> ApiError:
        return bad_request(f"can't parse entities: {text}")

    def _emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.out_len += utf16_len(chunk)

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        text, i, n = self.text, 0, len(self.text)
        while i < n:
            char = text[i]
            if char == "&":
                decoded, i = _decode_entity(text, i)
                self._emit(decoded)
            elif char != "<":  # a run of plain text up to the next "&" or "<", in one piece
                end = _PLAIN.match(text, i).end()  # type: ignore[union-attr]
                self._emit(text[i:end])
                i = end
            elif i + 1 < n and text[i + 1] == "/":
                i = self._end_tag(i)
            else:
                i = self._start_tag(i)
        if self.stack:
            tag = self.stack[-1].tag
            raise self._error(f'Can\'t find end tag corresponding to start tag "{tag}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _start_tag(self, begin: int) -> int:
        text, n = self.text, len(self.text)
        i = begin + 1
        while i < n and text[i] not in _SPACES and text[i] != ">":
            i += 1
        if i >= n:
            raise self._error(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        tag = text[begin + 1 : i].lower()
        if tag not in _SUPPORTED_TAGS:
            offset = self._byte_offset(begin)
            raise self._error(f'Unsupported start tag "{tag}" at byte offset {offset}')
        opened = _Open(tag, {}, self.out_len)
        while True:
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise self._error(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
            if text[i] == ">":
                break
            i = self._attribute(begin, i, opened)
        if tag == "span" and opened.attributes.get("class") != "tg-spoiler":
            raise self._error('Tag "span" must have class "tg-spoiler"')
        self.stack.append(opened)
        return i + 1

    def _attribute(self, begin: int, i: int, opened: _Open) -> int:
        text, n = self.text, len(self.text)
        start = i
        while i < n and text[i] not in _SPACES and text[i] not in "=>":
            i += 1
        name = text[start:i].lower()
        if not name:
            offset = self._byte_offset(begin)
            raise self._error(
                f'Empty attribute name in the tag "{opened.tag}" at byte offset {offset}'
            )
        while i < n and text[i] in _SPACES:
            i += 1
        if i < n and text[i] != "=":
            if opened.tag == "blockquote" and name == "expandable":
                opened.flags.add("expandable")
                return i
            offset = self._byte_offset(begin)
            raise self._error(
                f'Expected equal sign in declaration of an attribute of the tag "{opened.tag}" '
                f"at byte offset {offset}"
            )
        i += 1
        while i < n and text[i] in _SPACES:
            i += 1
        if i >= n:
            raise self._error(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        if text[i] in "\"'":
            quote = text[i]
            close = text.find(quote, i + 1)
            if close < 0:
                raise self._error(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
            raw, i = text[i + 1 : close], close + 1
        else:
            start = i
            while i < n and (text[i].isalnum() or text[i] in ".-"):
                i += 1
            raw = text[start:i]
            if not raw:
                offset = self._byte_offset(i)
                raise self._error(f"Unexpected end of name token at byte offset {offset}")
        opened.attributes[name] = _decode_all(raw)
        return i

    def _end_tag(self, begin: int) -> int:
        text, n = self.text, len(self.text)
        if not self.stack:
            raise self._error(f"Unexpected end tag at byte offset {self._byte_offset(begin)}")
        i = begin + 2
        start = i
        while i < n and (text[i].isalnum() or text[i] == "-"):
            i += 1
        name = text[start:i].lower()
        while i < n and text[i] in _SPACES:
            i += 1
        if i >= n or text[i] != ">":
            raise self._error(f"Unclosed end tag at byte offset {self._byte_offset(begin)}")
        opened = self.stack.pop()
        if name and name != opened.tag:
            raise self._error(
                f"Unmatched end tag at byte offset {self._byte_offset(begin)}, "
                f'expected "</{opened.tag}>", found "</{name}>"'
            )
        self._close(opened)
        return i + 1

    def _close(self, opened: _Open) -> None:
        length = self.out_len - opened.offset
        if length <= 0:
            return
        entity: dict[str, Any] = {"offset": opened.offset, "length": length}
        tag, attributes = opened.tag, opened.attributes
        if tag in _SIMPLE_TAGS:
            entity["type"] = _SIMPLE_TAGS[tag]
            language = attributes.get("class", "")
            if tag == "code" and self.stack and self.stack[-1].tag == "pre" and language:
                self.stack[-1].attributes["language"] = language.removeprefix("language-")
                return
            if tag == "pre" and attributes.get("language"):
                entity["language"] = attributes["language"]
        elif tag == "span":
            entity["type"] = "spoiler"
        elif tag == "blockquote":
            entity["type"] = (
                "expandable_blockquote" if "expandable" in opened.flags else "blockquote"
            )
        elif tag == "a":
            url = attributes.get("href", "")
            if not url:
                return
            entity.update(type="text_link", url=url)
        elif tag == "tg-emoji":
            entity.update(type="custom_emoji", custom_emoji_id=attributes.get("emoji-id", ""))
        else:
            entity.update(type="date_time", unix_time=int(attributes.get("unix", "0") or 0))
        self.entities.append(entity)


def _decode_entity(text: str, i: int) -> tuple[str, int]:
    """TDLib decodes the four named entities and numeric ones; any other `&` stays literal."""
    end = text.find(";", i + 1, i + 12)
    if end < 0:
        return "&", i + 1
    name = text[i + 1 : end]
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name], end + 1
    if name.startswith("#"):
        digits = name[1:]
        try:
            code = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits, 10)
        except ValueError:
            return "&", i + 1
        if 0 < code <= 0x10FFFF:
            return chr(code), end + 1
    return "&", i + 1


def _decode_all(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "&":
            chunk, i = _decode_entity(text, i)
            out.append(chunk)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and MessageEntity dicts for an HTML-formatted text, or a 400 ApiError."""
    return _HtmlParser(text).parse()


def format_text(
    text: str | None,
    parse_mode: str | None,
    entities: Any,
    *,
    limit: int,
    caption: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Validate a text or caption as the server does; returns plain text and entities.

    SRV `get_input_message_text` (Client.cpp l. 11400-11402): a raw empty text -> "message text
    is empty"; `get_formatted_text` (l. 11307-11330): more than 32 KiB -> "text is too long",
    parse_mode case-insensitive, "" or "none" = no parsing, else "unsupported parse_mode". A text
    empty after parsing (tags or blanks only) -> TD MessageEntity.cpp "text must be non-empty"
    (l. 4780). Lengths count code points for bots (TD MessageContent.cpp l. 4664-4666 uses
    `utf8_length`). Markdown and MarkdownV2 are taken as literal text: a simplification, helpbot
    sends HTML only.
    """
    raw = text or ""
    if not caption and not raw:
        raise bad_request("message text is empty")
    if len(raw.encode("utf-8")) > 1 << 15:
        raise bad_request("text is too long")
    mode = (parse_mode or "").strip().lower()
    if mode == "html":
        plain, found = parse_html(raw)
    elif mode in ("markdownv2", "markdown"):
        plain, found = raw, []  # simplified: Markdown is accepted as literal text
    elif mode in ("", "none"):
        plain = raw
        found = list(entities) if isinstance(entities, list) else []
    else:
        raise bad_request("unsupported parse_mode")
    if not caption and not plain.strip():
        raise bad_request("text must be non-empty")
    if len(plain.strip()) > limit:
        raise bad_request("message caption is too long" if caption else "message is too long")
    return plain, found
