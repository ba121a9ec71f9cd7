"""Log hygiene: a filter that replaces secrets (bot tokens, webhook secrets) in every record."""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "***"
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
