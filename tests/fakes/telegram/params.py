"""Request parameters the way telegram-bot-api reads them: query, form, JSON or multipart."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .errors import CHAT_NOT_FOUND, ApiError, bad_request

_TRUE = {"true", "yes", "1"}


class Params:
    """Typed access to one call's parameters; nested objects may arrive as JSON text."""

    def __init__(self, values: Mapping[str, Any], files: Mapping[str, bytes] | None = None) -> None:
        self.values: dict[str, Any] = dict(values)
        self.files: dict[str, bytes] = dict(files or {})

    def has(self, name: str) -> bool:
        value = self.values.get(name)
        return value is not None and value != ""

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        return json.dumps(value) if isinstance(value, dict | list) else str(value)

    def required_str(self, name: str) -> str:
        value = self.get_str(name)
        if not value:
            raise bad_request(f'parameter "{name}" is required')
        return value

    def get_int(
        self, name: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        """Integers travel as decimal strings; out-of-range values are clamped, not rejected."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else int(value)
        except ValueError:
            return default
        if lo is not None:
            number = max(lo, number)
        if hi is not None:
            number = min(hi, number)
        return number

    def required_int(self, name: str) -> int:
        number = self.get_int(name)
        if number is None:
            raise bad_request(f'parameter "{name}" is required')
        return number

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in _TRUE

    def get_json(self, name: str) -> Any:
        """A nested object: already decoded in a JSON body, JSON text in form and query bodies."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None

    def chat_id(self, name: str = "chat_id") -> int | str:
        """An integer id or an `@username`; anything else names no chat."""
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        text = str(value).strip()
        if text.startswith("@"):
            return text
        try:
            return int(text)
        except ValueError:
            raise bad_request(CHAT_NOT_FOUND) from None

    def upload(self, name: str) -> bytes | None:
        """Bytes uploaded for `name`, as `attach://<part>` (aiogram) or as a part named `name`."""
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
            if part not in self.files:
                raise bad_request(f"wrong file identifier/HTTP URL specified for {name}")
            return self.files[part]
        return self.files.get(name)


async def read_params(request: web.Request) -> Params:
    """Merge the query string and the body; nested values stay JSON text until a handler asks."""
    values: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.method != "POST" or not request.body_exists:
        return Params(values, files)
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON encoded request")
        # tdlib td/net/HttpReader.cpp, parse_json_parameters: a string value is decoded, any
        # other value (number, boolean, object, array) is kept as its JSON text, so a handler
        # reads it as it reads a form field.
        values.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read()
            else:
                values[key] = value
    elif content_type not in ("", "application/octet-stream"):
        raise ApiError(400, f"Bad Request: unsupported Content-Type {content_type}")
    return Params(values, files)
