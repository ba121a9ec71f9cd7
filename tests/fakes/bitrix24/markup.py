"""How the portal reads a message's BB-code: the plain text its clients show, markup resolved.

Modelled on the core's own plain-text renderings, ``CIMMessenger::PrepareMessageForPush``
(``im/classes/general/im_messenger.php:3560-3590``) and ``Im\\Text::removeBbCodes``
(``im/lib/text.php:286-340``) of ``yuliai/bitrix-modules`` at ``a3a2a579``: tags give their inner
text, a line starting with ``>>`` is a quote (``/^(>>(.*)(\\n)?)/mi``, ``im_messenger.php:3586``,
``MentionService.php:196``), text between two runs of 54 dashes is a quote block
(``im/lib/text.php:229,340``), ``#BR#``/``[br]`` are line breaks (``Message::setMessage``). Tags
are case-insensitive.
"""

from __future__ import annotations

import re

QUOTE = "[Quote]"  # what the renderings put for a quote (IM_QUOTE)
_RULES: list[tuple[str, re.Pattern[str], str]] = [
    ("s", re.compile(r"\[s\](.*?)\[/s\]", re.I | re.S), ""),
    ("b/i/u", re.compile(r"\[([buis])\](.*?)\[/\1\]", re.I | re.S), r"\2"),
    ("url", re.compile(r"\[url\](.*?)\[/url\]", re.I | re.S), r"\1"),
    ("url=", re.compile(r"\[url\s*=\s*([^\]]*)\](.*?)\[/url\]", re.I | re.S), r"\2"),
    ("user", re.compile(r"\[USER=([0-9]+|all)( REPLACE)?\](.*?)\[/USER\]", re.I), r"\3"),
    ("chat", re.compile(r"\[CHAT=([0-9]+)\](.*?)\[/CHAT\]", re.I), r"\2"),
    ("dialog", re.compile(r"\[dialog=([^\]]+)\](.*?)\[/dialog\]", re.I), r"\2"),
    ("context", re.compile(r"\[context=([^\]]+)\](.*?)\[/context\]", re.I), r"\2"),
    ("send/put/call", re.compile(r"\[(SEND|PUT|CALL)(?:=(.+?))?\](.+?)?\[/\1\]", re.I), r"\3"),
    ("pch", re.compile(r"\[PCH=([0-9]+)\](.*?)\[/PCH\]", re.I), r"\2"),
    ("size", re.compile(r"\[size=(\d+)\](.*?)\[/size\]", re.I), r"\2"),
    ("color", re.compile(r"\[color=#([0-9a-f]{3}|[0-9a-f]{6})\](.*?)\[/color\]", re.I), r"\2"),
    ("code", re.compile(r"\[code\](.*?)\[/code\]", re.I | re.S), r"\1"),
    ("icon/attach/rating", re.compile(r"\[(?:ICON|ATTACH|RATING)=[^\]]*\]", re.I), ""),
    ("timestamp", re.compile(r"\[TIMESTAMP=(\d+) FORMAT=([^\]]*)\]", re.I), r"\1"),
    ("img", re.compile(r"\[IMG SIZE=([a-z]+)\](.*?)\[/IMG\]", re.I), r"\2"),
    ("disk", re.compile(r"\[disk=\d+\]", re.I), ""),
]
_DASH_QUOTE = re.compile(r"-{54}.+?-{54}", re.S)
_LINE_QUOTE = re.compile(r"^>>(.*)(\n)?", re.M)


def rendered_text(text: str) -> str:
    """The text a reader sees: markup applied and gone, quotes as :data:`QUOTE`."""
    text = re.sub(r"\[br\]|#BR#", "\n", text, flags=re.I)
    for _, pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = _DASH_QUOTE.sub(f" {QUOTE} ", text)
    return _LINE_QUOTE.sub(f" {QUOTE} ", text)


def markup_in(text: str) -> list[str]:
    """The markup the portal finds in ``text`` (tag names, ``quote-line``, ``quote-block``)."""
    found = []
    if _DASH_QUOTE.search(text):
        found.append("quote-block")
    if _LINE_QUOTE.search(text):
        found.append("quote-line")
    if re.search(r"\[br\]|#BR#", text, re.I):
        found.append("br")
    found += [name for name, pattern, _ in _RULES if pattern.search(text)]
    return found
