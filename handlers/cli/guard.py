"""How every command ends: an error is one line on stderr (never a traceback, unless --debug),
a closed pipe (`helpbot ... | head`) ends quietly, and no secret is ever printed."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from bot.errors import TicketError
from bot.logs import RedactSecrets
from bot.settings import SettingsError
from handlers.settings import Settings, load_settings
from knowledge.errors import HelpbotError

__all__ = ["EXIT_CLOSED_PIPE", "EXIT_CONFIG", "known_secrets", "redact", "run_guarded"]

# As a shell reports a filter killed by SIGPIPE (128 + 13), which is what `cat | head` gives.
EXIT_CLOSED_PIPE = 141
EXIT_CONFIG = 2  # the configuration, the database or the knowledge base cannot be used
EXIT_INTERRUPTED = 130
_DEBUG_HINT = "(helpbot --debug ... shows the traceback)"
# Secrets that look the same whatever the settings: URL passwords, Bot API tokens, the secret
# part of a Bitrix24 inbound webhook URL.
_PATTERNS = (
    (re.compile(r"([a-z][\w+.-]*://[^/@\s:]*:)[^@\s/]+@", re.I), r"\1***@"),
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"), "***"),
    (re.compile(r"(/rest/\d+/)[^/\s]+"), r"\1***"),
)


def run_guarded(command: Callable[[], int], *, debug: bool = False) -> int:
    """Run ``command`` and turn whatever escapes it into an exit code and at most one line."""
    try:
        code = command()
        sys.stdout.flush()  # a closed pipe shows here, not in Python's flush at exit
        return code
    except SystemExit:  # argparse's --help and usage errors end so, after printing
        if not _flushed():
            return EXIT_CLOSED_PIPE
        raise
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_CLOSED_PIPE
    except (SettingsError, HelpbotError) as exc:
        if debug:
            raise
        _error(str(exc))
        return 1 if isinstance(exc, TicketError) else EXIT_CONFIG
    except Exception as exc:
        if debug:
            raise
        _error(f"{type(exc).__name__}: {exc} {_DEBUG_HINT}")
        return 1


def known_secrets(settings: Settings) -> tuple[str, ...]:
    """Every configured secret: tokens, webhook secrets, passwords in URLs (a database or Redis
    URL without its password may be shown)."""
    found: list[str] = list(settings.bitrix.secrets())
    telegram = settings.telegram
    for secret in (telegram.bot_token, telegram.webhook_secret):
        if secret is not None:
            found.append(secret.get_secret_value())
    redis = settings.redis.url.get_secret_value() if settings.redis.url else ""
    for url in (settings.database.url, redis):
        with contextlib.suppress(ValueError):  # a bad port: the URL is reported elsewhere
            if password := urlsplit(url).password:
                found.append(password)
    return tuple(found)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets nor anything that looks like one."""
    text = RedactSecrets(secrets).redact(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _error(message: str) -> None:
    try:
        secrets = known_secrets(load_settings())
    except Exception:  # the settings may be what is broken; the patterns still apply
        secrets = ()
    line = " ".join(redact(message, secrets).split())  # one line, whatever the exception said
    with contextlib.suppress(OSError):
        print(f"error: {line}", file=sys.stderr)


def _flushed() -> bool:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return False
    return True


def _silence_stdout() -> None:
    # Python flushes stdout once more at exit; pointing it at /dev/null keeps that flush from
    # failing with a second BrokenPipeError.
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
