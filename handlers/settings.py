"""The whole configuration: the core's sections (:class:`bot.settings.CoreSettings`) and each
channel's own, read once from the environment and `.env` (``<SECTION>_<FIELD>``)."""

from __future__ import annotations

from bot.settings import CoreSettings, SettingsError, read
from handlers.bitrix24.settings import BitrixSettings
from handlers.telegram.settings import OperatorSettings, TelegramSettings

__all__ = ["Settings", "SettingsError", "load_settings", "whole"]


class Settings(CoreSettings):
    """Every setting; build it with :func:`load_settings` or ``Settings(_env_file=None)``."""

    telegram: TelegramSettings = TelegramSettings()
    operator: OperatorSettings = OperatorSettings()
    bitrix: BitrixSettings = BitrixSettings()


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment and the configuration file; a problem is one readable
    :class:`SettingsError`."""
    return read(Settings, **overrides)


def whole(settings: CoreSettings) -> Settings:
    """The whole settings an app was built with, where the core hands them on as its own part
    (``Services.settings``): a channel reads its section from them."""
    if not isinstance(settings, Settings):
        raise TypeError("the app was built from core settings without the channels' sections")
    return settings
