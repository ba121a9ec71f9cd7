"""Deep-link tokens, the token-redacting log filter and the TELEGRAM_* settings section."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.logs import RedactSecrets
from bot.settings import SettingsError
from handlers.settings import Settings, load_settings
from handlers.telegram.startlinks import EntryLinks, entry_token, start_link

TOKEN = "123456:AAHsecretSecretSecret_0123456789"


@pytest.mark.parametrize(
    "entry_id",
    [
        "short-id",
        "helpdesk-articles--kak-vosstanovit-parol-ot-bitriks24-" + "x" * 40,
        "ид с пробелом",
    ],
)
def test_entry_tokens_fit_telegram_and_resolve_back(entry_id: str) -> None:
    token = entry_token(entry_id)
    assert re.fullmatch(r"a_[A-Za-z0-9_-]{1,62}", token)
    assert token == entry_token(entry_id)  # stable
    assert EntryLinks([entry_id, "other"]).resolve(token) == entry_id
    assert start_link("@helpbot_bot", entry_id) == f"https://t.me/helpbot_bot?start={token}"


def test_unknown_payload_resolves_to_nothing() -> None:
    assert EntryLinks(["a"]).resolve("a_nope") is None


def test_log_filter_masks_the_token_in_messages_and_tracebacks() -> None:
    redact = RedactSecrets([TOKEN, "tiny"])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "url /bot%s/getMe", (TOKEN,), None)
    try:
        raise RuntimeError(f"failed https://api.telegram.org/bot{TOKEN}/getMe")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert redact.filter(record)
    assert TOKEN not in record.getMessage() and "***" in record.getMessage()
    assert record.exc_text and TOKEN not in record.exc_text


def test_telegram_section_reads_env_and_hides_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("OPERATOR_CHAT_ID", "-1001234567890")
    settings = load_settings(_env_file=None)
    assert settings.telegram.enabled and settings.operator.chat_id == -1001234567890
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"TELEGRAM_BOT_TOKEN": "not a token"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "webhook"}, "TELEGRAM_WEBHOOK_URL"),
        ({"TELEGRAM_WEBHOOK_SECRET": "bad secret!"}, "TELEGRAM_WEBHOOK_SECRET"),
    ],
)
def test_bad_telegram_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=problem) as caught:
        load_settings(_env_file=None)
    assert "not a token" not in str(caught.value)


WEBHOOK = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": "s"}


@pytest.mark.parametrize(
    "url",
    [
        "http://bot.example/telegram/webhook",
        "https://bot.example:8080/telegram/webhook",
        "https://bot.example:99999/telegram/webhook",
    ],
)
def test_a_webhook_telegram_would_refuse_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """api.telegram.org posts only to HTTPS on 443, 80, 88 or 8443 (telegram-bot-api's
    WebhookActor): refused at start-up with the reason, not by setWebhook later."""
    for name, value in (WEBHOOK | {"TELEGRAM_WEBHOOK_URL": url}).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="HTTPS address on port 443, 80, 88 or 8443"):
        load_settings(_env_file=None)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("https://bot.example/telegram/webhook", "false"),
        ("https://bot.example:8443/telegram/webhook", "false"),
        ("https://bot.example:88/telegram/webhook", "false"),
        ("http://127.0.0.1:8080/telegram/webhook", "true"),  # a `telegram-bot-api --local`
    ],
)
def test_webhooks_telegram_accepts_are_settings_it_takes(
    monkeypatch: pytest.MonkeyPatch, url: str, local: str
) -> None:
    env = WEBHOOK | {"TELEGRAM_WEBHOOK_URL": url, "TELEGRAM_LOCAL_SERVER": local}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(_env_file=None).telegram.webhook_url == url


def test_every_channel_setting_is_in_env_example() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    for section in ("telegram", "operator", "web"):
        for field in type(getattr(settings, section)).model_fields:
            assert f"{section}_{field}".upper() in documented
