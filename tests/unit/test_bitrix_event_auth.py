"""Which application_token webhook-mode events must carry (no BITRIX_APP_TOKEN needed)."""

from __future__ import annotations

from pydantic import SecretStr

from handlers.bitrix24.eventauth import EventAuth, fingerprint
from handlers.bitrix24.rest.auth import InMemoryTokenStore, OAuthTokens
from handlers.bitrix24.settings import BitrixSettings

WEBHOOK = "https://p.bitrix24.ru/rest/1/hooksecret123/"
PUBLIC = "https://helpbot.example.com"


async def test_a_webhook_bot_expects_custom_and_its_bot_token() -> None:
    settings = BitrixSettings(
        webhook_url=SecretStr(WEBHOOK), bot_token=SecretStr("tok"), event_mode="webhook",
        public_url=PUBLIC,
    )  # fmt: skip
    auth = EventAuth(settings, InMemoryTokenStore())
    assert await auth.accepts("customtok") and not await auth.accepts("tok")
    settings.app_token = SecretStr("given")
    assert await EventAuth(settings, InMemoryTokenStore()).accepts("given")


async def test_an_oauth_app_expects_its_install_token_and_refuses_all_before_install() -> None:
    settings = BitrixSettings(
        client_id="local.1", client_secret=SecretStr("s"), event_mode="webhook", public_url=PUBLIC
    )
    store = InMemoryTokenStore()
    auth = EventAuth(settings, store)
    assert not await auth.accepts("")  # not installed: nothing is trusted on first sight
    assert not await auth.accepts("anything")
    store.tokens = OAuthTokens("a", "r", "https://p/rest/", application_token="install-tok")
    assert await auth.accepts("install-tok") and not await auth.accepts("forged")
    auth.installed("reinstalled-tok")
    assert await auth.accepts("reinstalled-tok")


def test_a_fingerprint_shows_no_token() -> None:
    assert "install-tok" not in fingerprint("install-tok") and len(fingerprint("x")) == 12
