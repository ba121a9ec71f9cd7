"""PHP's view of form data: bracket keys into nested dicts; ``http_build_query`` for events."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``FIELDS[KEY]=v`` and ``KEYBOARD[0][TEXT]=v`` into nested dicts, as PHP's ``$_POST`` does.

    Numeric-keyed levels stay dicts with string keys ("0", "1"); use :func:`as_list` to read them.
    An empty ``[]`` appends. A later scalar overwrites an earlier one, like PHP.
    """
    out: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        if match is None:
            out[raw_key] = value
            continue
        path = [match.group(1), *_PART.findall(match.group(2))]
        node = out
        for index, part in enumerate(path):
            last = index == len(path) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return out


def parse_query(query: str) -> dict[str, Any]:
    return parse_pairs(parse_qsl(query, keep_blank_values=True))


def as_list(value: Any) -> list[Any]:
    """A JSON list, or a form-decoded dict keyed "0", "1", … in index order."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: int(k) if k.isdigit() else 1 << 30)]
    return []


def flatten(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Like PHP ``http_build_query``: every scalar a string (true "1", false "0", null "").

    Empty arrays disappear entirely, lists become ``[0]``, ``[1]`` keys (digest §4.1, §5).
    """
    pairs: list[tuple[str, str]] = []

    def walk(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for sub, item in value.items():
                walk(f"{key}[{sub}]", item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{key}[{index}]", item)
        elif value is True or value is False:
            pairs.append((key, "1" if value else "0"))
        elif value is None:
            pairs.append((key, ""))
        else:
            pairs.append((key, str(value)))

    for name, item in data.items():
        walk(name, item)
    return pairs


def build_query(data: Mapping[str, Any]) -> str:
    return urlencode(flatten(data))
