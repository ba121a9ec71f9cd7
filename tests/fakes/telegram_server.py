"""The fake Telegram Bot API server for e2e tests (implemented in tests/fakes/telegram/)."""

from .telegram import *  # noqa: F403 (the package's public names, one list: its __all__)
from .telegram import __all__ as __all__
