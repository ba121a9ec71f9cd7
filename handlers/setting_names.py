"""The environment name of every setting (HELPBOT_HOME, DATABASE_URL, TELEGRAM_BOT_TOKEN, …) and
its value in a loaded configuration: for `helpbot doctor` and the deployment-file tests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from handlers.settings import Settings

__all__ = ["setting_names", "setting_prefixes", "setting_value"]


def setting_names() -> dict[str, tuple[str, ...]]:
    """``{"DATABASE_URL": ("database", "url"), "HELPBOT_HOME": ("home",), …}``."""
    names: dict[str, tuple[str, ...]] = {}
    for name, info in Settings.model_fields.items():
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            for field in section.model_fields:
                names[f"{name}_{field}".upper()] = (name, field)
        else:
            alias = info.validation_alias
            names[(alias if isinstance(alias, str) else name).upper()] = (name,)
    return names


def setting_value(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value


def setting_prefixes() -> tuple[str, ...]:
    """The prefixes our names start with (``TELEGRAM_`` …): an unknown name with one of them is
    likely a misspelt setting."""
    return tuple(sorted({name.split("_", 1)[0] + "_" for name in setting_names()}))
