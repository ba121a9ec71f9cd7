"""The house's arrows: knowledge imports nothing from bot/handlers; bot stays channel-free."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The composition root and the CLI entry point wire every layer, so they may see them all.
WIRING = {ROOT / "bot" / "app.py", ROOT / "bot" / "__main__.py"}


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if p not in WIRING)


def _hits(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} imports {name}"
        for path in paths
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_knowledge_imports_neither_bot_nor_handlers() -> None:
    assert _hits(_modules("knowledge"), ("bot", "handlers")) == []


def test_bot_imports_no_channel_framework_nor_handlers() -> None:
    # A channel's API client (aiogram for Telegram, the Bitrix24 REST client over aiohttp)
    # lives with its channel under handlers/; bot/ makes no call to a platform.
    assert _modules("bot"), "bot/ has modules"
    assert _hits(_modules("bot"), ("handlers", "aiogram", "aiohttp")) == []


@pytest.mark.parametrize("source", ["from handlers.cli import chat", "import aiogram.types"])
def test_the_check_sees_forbidden_imports(tmp_path: Path, source: str) -> None:
    module = tmp_path / "m.py"
    module.write_text(source, encoding="utf-8")
    assert _hits([module], ("handlers", "aiogram"))


def test_the_core_settings_name_no_channel() -> None:
    # Each channel contributes its own section (handlers/<channel>/settings.py); the whole
    # object is handlers.settings.Settings.
    from bot.settings import CoreSettings
    from handlers.settings import Settings

    channels = {"telegram", "operator", "bitrix"}
    assert not channels & set(CoreSettings.model_fields)
    assert channels <= set(Settings.model_fields)
