"""Log hygiene and shape: a filter that replaces secrets in every record; text or JSON lines."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, TextIO

MASK = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Our log lines name their ids as ``conversation=12 ticket=3``; JSON lines lift them to fields.
ID_FIELDS = ("conversation", "ticket", "update", "outbox", "chat", "member")
_IDS = re.compile(rf"\b({'|'.join(ID_FIELDS)})=([^\s,;:]+)")
_MIN_SECRET = 6  # shorter strings would mask ordinary words


class RedactSecrets(logging.Filter):
    """Masks the given secrets in a record's message and its formatted exception."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        found = {s for s in secrets if len(s) >= _MIN_SECRET}
        self._secrets = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def install(secrets: Iterable[str]) -> RedactSecrets:
    """Attach a redacting filter to every handler of the root logger; see :func:`uninstall`."""
    redact = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    return redact


def uninstall(redact: RedactSecrets) -> None:
    for handler in logging.getLogger().handlers:
        handler.removeFilter(redact)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the ids the message names, exc."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()  # the redacting filter has already run on the handler
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for name, value in _IDS.findall(message):
            line.setdefault(name, int(value) if value.isdigit() else value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(
    level: int | str, fmt: Literal["text", "json"] = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Replace the root logger's handlers with one stream handler of this level and format.

    Call it before the channels start: :func:`install` adds its filter to the handlers present.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
