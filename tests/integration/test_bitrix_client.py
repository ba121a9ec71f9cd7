"""The Bitrix24 REST client against the fake portal over loopback: auth, limits, retries, batch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fakes.bitrix24 import FakeBitrix24

from bot.clock import SystemClock
from bot.delivery import Call, Done, NotReady, Retry
from handlers.bitrix24.rest.auth import InMemoryTokenStore, OAuthAuth, OAuthTokens, WebhookAuth
from handlers.bitrix24.rest.client import Bitrix24Client, create_client
from handlers.bitrix24.rest.errors import (
    AccessDenied,
    AuthenticationFailed,
    Bitrix24Error,
    Bitrix24Timeout,
    InvalidGrant,
    MethodNotFound,
    NotFound,
    OperationTimeLimit,
    QueryLimitExceeded,
    ServerError,
    TransportError,
)
from handlers.bitrix24.rest.limiter import LeakyBucket
from handlers.bitrix24.sender import BitrixSender
from handlers.bitrix24.settings import BitrixSettings

BOT_TOKEN = "bt-" + "9f3c1a77e2d54b0c8a61"
REGISTER = {
    "fields": {
        "code": "helpbot",
        "type": "openline",
        "eventMode": "fetch",
        "properties": {"name": "Helpbot"},
    }
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeBitrix24]:
    async with FakeBitrix24(burst=50, per_second=100.0) as portal:
        yield portal


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Sleeps:
    """Records backoff delays and sleeps a hundredth of them, so retries stay real but quick."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(seconds / 100)


def webhook_client(
    fake: FakeBitrix24, http: aiohttp.ClientSession, url: str | None = None, **kw: Any
) -> Bitrix24Client:
    kw.setdefault("limiter", LeakyBucket(50, 100.0))
    kw.setdefault("bot_token", BOT_TOKEN)
    kw.setdefault("backoff_base", 0.01)
    return Bitrix24Client(WebhookAuth(url or fake.webhook_url), session=http, **kw)


def oauth_client(
    fake: FakeBitrix24, http: aiohttp.ClientSession, store: InMemoryTokenStore, **kw: Any
) -> Bitrix24Client:
    auth = OAuthAuth(fake.client_id, fake.client_secret, store, oauth_url=fake.oauth_url)
    kw.setdefault("backoff_base", 0.01)
    return Bitrix24Client(auth, session=http, limiter=LeakyBucket(50, 100.0), **kw)


def installed(fake: FakeBitrix24) -> InMemoryTokenStore:
    block = {k: str(v) for k, v in fake.issue_tokens().items()}
    return InMemoryTokenStore(OAuthTokens.from_event_auth(block))


def assert_secret_free(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


async def test_webhook_call_registers_the_bot_idempotently(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    client = webhook_client(fake, http)
    first = await client.call("imbot.v2.Bot.register", REGISTER)
    again = await client.call("imbot.v2.Bot.register", REGISTER)
    assert first["bot"]["id"] == again["bot"]["id"]
    assert fake.calls[0].params["fields"]["botToken"] == BOT_TOKEN  # put in fields, not top level
    listed = await client.call("imbot.v2.Bot.list")
    assert [b["code"] for b in listed["bots"]] == ["helpbot"]
    assert fake.calls_to("imbot.v2.Bot.list")[0].params["botToken"] == BOT_TOKEN


async def test_wrong_webhook_secret_is_a_typed_error_without_the_secret(
    fake: FakeBitrix24, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = fake.webhook_url.replace(fake.webhook_secret, "wrongsecret123")
    client = webhook_client(fake, http, url=wrong)
    with pytest.raises(AuthenticationFailed) as caught:
        await client.call("imbot.v2.Bot.list")
    assert (caught.value.code, caught.value.status) == ("NO_AUTH_FOUND", 401)
    text = f"{caught.value} {caught.value!r} {client!r} {caplog.text}"
    assert_secret_free(text, "wrongsecret123", BOT_TOKEN)
    assert "/rest/1/***/" in repr(client)


async def test_portal_errors_map_to_typed_errors(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    client = webhook_client(fake, http)
    await client.call("imbot.v2.Bot.register", REGISTER)
    with pytest.raises(MethodNotFound) as missing:
        await client.call("imbot.v2.No.Such.method")
    assert (missing.value.code, missing.value.status) == ("ERROR_METHOD_NOT_FOUND", 404)
    with pytest.raises(NotFound) as gone:
        await client.call("imbot.v2.Bot.unregister", {"botId": 999_999})
    assert gone.value.code == "BOT_NOT_FOUND"
    bot_id = fake.bot("helpbot").id
    with pytest.raises(AccessDenied):  # the bot is not a member of that chat
        await client.call(
            "imbot.v2.Chat.Message.send",
            {"botId": bot_id, "dialogId": "chat1", "fields": {"message": "hi"}},
        )
    tokenless = webhook_client(fake, http, bot_token=None)
    with pytest.raises(Bitrix24Error) as no_token:
        await tokenless.call("imbot.v2.Bot.list")
    assert (no_token.value.code, no_token.value.status) == ("BOT_TOKEN_NOT_SPECIFIED", 400)


async def test_expired_token_is_refreshed_once_and_the_call_repeated(
    fake: FakeBitrix24, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = installed(fake)
    first = store.tokens
    assert first is not None
    client = oauth_client(fake, http, store)
    await client.call("imbot.v2.Bot.register", REGISTER)
    fake.expire_access_tokens()
    listed = await client.call("imbot.v2.Bot.list")
    assert [b["code"] for b in listed["bots"]] == ["helpbot"]
    assert [(c.status, c.error) for c in fake.calls_to("imbot.v2.Bot.list")] == [
        (401, "expired_token"),
        (200, None),
    ]
    assert len(fake.refreshes) == 1
    assert len(store.saved) == 1
    saved = store.saved[0]
    assert saved.refresh_token != first.refresh_token
    assert saved.client_endpoint == first.client_endpoint  # the OAuth server's domain is ignored
    assert_secret_free(
        f"{caplog.text} {client!r} {saved!r}",
        first.access_token, first.refresh_token, saved.access_token, saved.refresh_token,
        fake.client_secret,
    )  # fmt: skip


async def test_every_refresh_saves_the_rotated_refresh_token(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    store = installed(fake)
    stale = store.tokens
    assert stale is not None
    client = oauth_client(fake, http, store)
    for _ in range(2):
        fake.expire_access_tokens()
        await client.call("imbot.v2.Bot.list")
    refresh_tokens = [t.refresh_token for t in store.saved]
    assert len(set(refresh_tokens)) == 2
    assert stale.refresh_token not in refresh_tokens
    # The old refresh token is spent: a second process still holding it must re-install.
    fake.expire_access_tokens()
    other = oauth_client(fake, http, InMemoryTokenStore(stale))
    with pytest.raises(InvalidGrant) as caught:
        await other.call("imbot.v2.Bot.list")
    assert caught.value.code == "invalid_grant"
    assert stale.refresh_token not in str(caught.value)


async def test_concurrent_expired_calls_share_one_refresh(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    store = installed(fake)
    client = oauth_client(fake, http, store)
    await client.call("imbot.v2.Bot.list")
    fake.expire_access_tokens()
    results = await asyncio.gather(*(client.call("imbot.v2.Bot.list") for _ in range(20)))
    assert len(results) == 20
    assert len(fake.refreshes) == 1
    assert len(store.saved) == 1


async def test_an_access_error_with_status_401_is_not_taken_for_a_stale_token(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    # The classic REST server answers insufficient_scope (and OVERLOAD_LIMIT) with HTTP 401
    # (rest/lib/oauthexception.php): the client maps the code, not the status, and must not
    # refresh the tokens for it.
    client = oauth_client(fake, http, installed(fake))
    fake.fail_next("insufficient_scope")
    with pytest.raises(AccessDenied) as caught:
        await client.call("imbot.v2.Bot.list")
    assert (caught.value.code, caught.value.status) == ("insufficient_scope", 401)
    assert fake.refreshes == []


async def test_a_reply_waiting_for_a_token_survives_the_oauth_servers_outage_and_refusal(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    # Regression: the OAuth server's 503 page (an outage of oauth.bitrix.info) was read as an
    # unretryable INVALID_RESPONSE, and the sender gave the customer's reply up for good.
    # settings/oauth/error-codes.md: PAYMENT_REQUIRED means no token until the app is paid.
    client = oauth_client(fake, http, installed(fake))
    bot_id = (await client.call("imbot.v2.Bot.register", REGISTER))["bot"]["id"]
    chat = await fake.open_line_chat()
    sender = BitrixSender(client, SystemClock(), bot_code="helpbot")
    fields = {"message": "Ответ", "templateId": "0f6c1e5a-8b7d-4c2e-9a31-5d4b6e7f8a90"}
    reply = Call(
        1,
        chat.dialog_id,
        "imbot.v2.Chat.Message.send",
        {"dialogId": chat.dialog_id, "fields": fields},
    )
    assert await sender.bot_id() == bot_id
    fake.expire_access_tokens()
    fake.oauth_go_down()
    outcome = await sender.send(reply)
    assert isinstance(outcome, Retry) and "HTTP_503" in outcome.reason
    fake.oauth_go_down(False)
    fake.lapse_app_payment()
    outcome = await sender.send(reply)
    assert isinstance(outcome, NotReady) and "PAYMENT_REQUIRED" in outcome.reason
    fake.lapse_app_payment(False)
    assert isinstance(await sender.send(reply), Done)
    assert [m.text for m in fake.bot_messages(chat)] == ["Ответ"]
    assert len(fake.refreshes) == 3


async def test_query_limit_exceeded_backs_off_then_succeeds(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    sleeps = Sleeps()
    client = webhook_client(fake, http, sleep=sleeps, backoff_base=1.0)
    fake.fail_next("QUERY_LIMIT_EXCEEDED", times=2)
    assert (await client.call("imbot.v2.Bot.list"))["bots"] == []
    assert [c.status for c in fake.calls_to("imbot.v2.Bot.list")] == [503, 503, 200]
    assert len(sleeps.delays) == 2
    assert 0.5 <= sleeps.delays[0] <= 1.0 < sleeps.delays[1] <= 2.0  # exponential, with jitter


async def test_operation_time_limit_is_raised_at_once_with_its_reset_and_5xx_is_retried(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    # OPERATION_TIME_LIMIT blocks the method until its budget resets (up to ten minutes): a
    # retry within seconds is refused again, so the client does not make one. It raises at once
    # with the reset the method's last answer announced; the outbox pauses that method until
    # then (tests/e2e/test_bitrix24_platform.py), a direct caller gets a clear error.
    client = webhook_client(fake, http)
    fake.strain_method("imbot.v2.Bot.list", operating=400.0, reset_in=300.0)
    await client.call("imbot.v2.Bot.list")  # its answer announces the reset
    fake.block_method("imbot.v2.Bot.list")
    before = time.time()
    with pytest.raises(OperationTimeLimit) as caught:
        await client.call("imbot.v2.Bot.list")
    assert caught.value.reset_at is not None and caught.value.reset_at > before + 200
    assert [c.status for c in fake.calls_to("imbot.v2.Bot.list")] == [200, 429]
    fake.fail_next("INTERNAL_SERVER_ERROR")
    await client.call("imbot.v2.Revision.get")
    assert [c.status for c in fake.calls_to("imbot.v2.Revision.get")] == [500, 200]


async def test_retries_are_bounded(fake: FakeBitrix24, http: aiohttp.ClientSession) -> None:
    client = webhook_client(fake, http, max_attempts=3)
    fake.fail_next("INTERNAL_SERVER_ERROR", times=10)
    with pytest.raises(ServerError) as caught:
        await client.call("imbot.v2.Bot.list")
    assert (caught.value.code, caught.value.status) == ("INTERNAL_SERVER_ERROR", 500)
    assert len(fake.calls_to("imbot.v2.Bot.list")) == 3


async def test_a_burst_of_200_calls_stays_within_the_portal_limit(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    # The portal's drain rate; a burst 5 below the portal's absorbs up to 50 ms of uneven
    # scheduling on a busy machine, which at 100 calls/s is worth 5 calls (at the real 2/s it
    # is worth a tenth of one).
    client = webhook_client(fake, http, limiter=LeakyBucket(45, 100.0), max_attempts=1)
    started = time.monotonic()
    results = await asyncio.gather(*(client.call("imbot.v2.Bot.list") for _ in range(200)))
    assert len(results) == 200
    assert fake.throttled == 0
    assert time.monotonic() - started < 5


async def test_without_our_limiter_the_portal_throttles(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    fake.set_rate_limit(10, 1.0)
    client = webhook_client(fake, http, limiter=LeakyBucket(1000, 1000.0), max_attempts=1)
    outcomes = await asyncio.gather(
        *(client.call("imbot.v2.Bot.list") for _ in range(15)), return_exceptions=True
    )
    throttled = [o for o in outcomes if isinstance(o, QueryLimitExceeded)]
    assert len(throttled) == 5 == fake.throttled
    assert throttled[0].status == 503


async def test_batch_reports_per_command_errors(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    client = webhook_client(fake, http)
    result = await client.batch(
        {
            "reg": ("imbot.v2.Bot.register", REGISTER),
            "cmd": (
                "imbot.v2.Command.register",
                {"botId": "$result[reg][bot][id]", "fields": {"command": "helped", "hidden": True}},
            ),
            "gone": ("imbot.v2.Bot.unregister", {"botId": 999_999}),
            "nope": ("imbot.v2.Nope", None),
        }
    )
    assert result.get("reg")["bot"]["code"] == "helpbot"
    assert result.get("cmd")["command"]["command"] == "/helped"
    assert not result.ok
    assert isinstance(result.errors["gone"], NotFound)
    assert isinstance(result.errors["nope"], MethodNotFound)
    with pytest.raises(NotFound):
        result.get("gone")
    assert len(fake.calls_to("batch")) == 1  # one request for the limiter


async def test_batch_halt_stops_at_the_first_error_and_caps_at_50(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    client = webhook_client(fake, http)
    result = await client.batch(
        {
            "a": ("imbot.v2.Bot.list", None),
            "b": ("imbot.v2.Bot.unregister", {"botId": 1}),
            "c": ("imbot.v2.Bot.list", None),
        },
        halt=True,
    )
    assert set(result.results) == {"a"}
    assert set(result.errors) == {"b"}
    with pytest.raises(KeyError):
        result.get("c")
    with pytest.raises(ValueError):
        await client.batch({str(i): ("imbot.v2.Bot.list", None) for i in range(51)})


async def test_time_outs_are_retried_then_raise_a_typed_error(
    fake: FakeBitrix24, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = webhook_client(fake, http, request_timeout=0.2, max_attempts=3)
    fake.delay_next(1.0, times=2)
    await client.call("imbot.v2.Bot.list")
    assert len(fake.calls_to("imbot.v2.Bot.list")) == 1  # the two slow ones never answered
    fake.delay_next(1.0, times=3)
    with pytest.raises(Bitrix24Timeout) as caught:
        await client.call("imbot.v2.Bot.list")
    assert caught.value.code == "TIMEOUT"
    assert_secret_free(f"{caught.value} {caplog.text}", fake.webhook_secret, BOT_TOKEN)


async def test_an_unreachable_portal_is_a_transport_error_without_secrets(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = Bitrix24Client(
        WebhookAuth("http://127.0.0.1:9/rest/7/s3cretpath42/"),
        session=http, max_attempts=2, backoff_base=0.01,
    )  # fmt: skip
    with pytest.raises(TransportError) as caught:
        await client.call("imbot.v2.Bot.list")
    assert_secret_free(f"{caught.value} {caught.value!r} {client!r} {caplog.text}", "s3cretpath42")


def test_settings_pick_the_auth_mode_and_hide_secrets() -> None:
    hook = BitrixSettings(
        webhook_url="https://x.bitrix24.ru/rest/1/abcdef123/", bot_token=BOT_TOKEN
    )  # type: ignore[arg-type]
    assert hook.auth_mode == "webhook"
    assert "abcdef123" not in repr(hook)
    assert BitrixSettings().auth_mode == "off"
    with pytest.raises(ValueError) as plain:
        BitrixSettings(webhook_url="http://x.bitrix24.ru/rest/1/abcdef123/", bot_token="t")  # type: ignore[arg-type]
    assert "abcdef123" not in str(plain.value)
    with pytest.raises(ValueError):
        BitrixSettings(client_id="local.1", client_secret="s", event_mode="webhook")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BitrixSettings(webhook_url=hook.webhook_url, bot_token="x" * 41)  # type: ignore[arg-type]


async def test_create_client_follows_the_settings(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    settings = BitrixSettings(webhook_url=fake.webhook_url, bot_token=BOT_TOKEN)  # type: ignore[arg-type]
    client = create_client(settings, session=http)
    assert client.limiter.burst == 50
    await client.call("imbot.v2.Bot.register", REGISTER)
    app = BitrixSettings(
        client_id=fake.client_id, client_secret=fake.client_secret, oauth_url=fake.oauth_url
    )  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        create_client(app, session=http)
    oauth = create_client(app, session=http, token_store=installed(fake))
    assert (await oauth.call("imbot.v2.Bot.list"))["bots"] == []


# -- the open-line world of the fake, driven through the client as the bot will drive it ---------


async def registered_bot(client: Bitrix24Client, **fields: Any) -> int:
    answer = await client.call(
        "imbot.v2.Bot.register", {"fields": {**REGISTER["fields"], **fields}}
    )
    bot_id = int(answer["bot"]["id"])
    await client.call(
        "imbot.v2.Command.register",
        {"botId": bot_id, "fields": {"command": "helped", "title": {"ru": "Помогло"}}},
    )
    return bot_id


async def test_fetch_mode_events_stay_until_the_offset_passes_them(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    client = webhook_client(fake, http)
    bot_id = await registered_bot(client)
    chat = await fake.open_line_chat(customer_name="Ion Popescu")
    await fake.customer_sends(chat, "Где мой заказ?")
    got = await client.call("imbot.v2.Event.get", {"botId": bot_id})
    assert [e["type"] for e in got["events"]] == ["ONIMBOTV2JOINCHAT", "ONIMBOTV2MESSAGEADD"]
    data = got["events"][1]["data"]
    assert (data["chat"]["entityType"], data["user"]["connector"]) == ("LINES", True)
    assert (data["message"]["text"], data["message"]["chatId"]) == ("Где мой заказ?", chat.id)
    again = await client.call("imbot.v2.Event.get", {"botId": bot_id})
    assert again["events"] == got["events"]  # nothing acknowledged yet: a crash loses nothing
    done = await client.call("imbot.v2.Event.get", {"botId": bot_id, "offset": got["nextOffset"]})
    assert done["events"] == [] and fake.pending_events("helpbot") == []
    assert await fake.wait_for(lambda: fake.calls_to("imbot.v2.Event.get"), 1.0, "polls")
    with pytest.raises(AssertionError, match="an impossible event"):
        await fake.wait_for(lambda: False, 0.1, "an impossible event")


async def test_keyboard_replies_and_button_presses(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    client = webhook_client(fake, http)
    bot_id = await registered_bot(client)
    chat = await fake.open_line_chat()
    button = {"TEXT": "Помогло", "COMMAND": "helped", "COMMAND_PARAMS": "42", "BLOCK": "Y"}
    fields = {"message": "[b]Ответ[/b]", "keyboard": {"BUTTONS": [button, {"TYPE": "NEWLINE"}]}}
    await client.call(
        "imbot.v2.Chat.Message.send",
        {"botId": bot_id, "dialogId": chat.dialog_id, "fields": fields},
    )
    # The same call form-encoded with PHP bracket keys, as other clients send it.
    form = {
        "botId": str(bot_id), "botToken": BOT_TOKEN, "dialogId": chat.dialog_id,
        "fields[message]": "Ещё", "fields[keyboard][0][TEXT]": "Оператор",
        "fields[keyboard][0][COMMAND]": "helped",
    }  # fmt: skip
    async with http.post(f"{fake.webhook_url}imbot.v2.Chat.Message.send.json", data=form) as r:
        assert (await r.json())["result"]["id"] > 0
    sent = fake.bot_messages(chat)
    assert [m.buttons[0]["TEXT"] for m in sent] == ["Помогло", "Оператор"]
    operator = fake.add_operator()  # the line's people see the keyboard; customers do not
    await fake.operator_joins(chat, operator)
    await fake.press_button(chat, "helped", "42", by=operator)
    with pytest.raises(LookupError):  # BLOCK=Y: one press only
        await fake.press_button(chat, "helped", "42", by=operator)
    events = (await client.call("imbot.v2.Event.get", {"botId": bot_id}))["events"]
    command = events[-1]["data"]["command"]
    assert (events[-1]["type"], command["command"], command["params"], command["context"]) == (
        "ONIMBOTV2COMMANDADD", "/helped", "42", "keyboard",
    )  # fmt: skip


async def test_transfer_to_the_queue_silences_the_bot(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    client = webhook_client(fake, http)
    bot_id = await registered_bot(client)
    chat = await fake.open_line_chat()
    await fake.operator_sends(chat, "Я подключилась")  # bots in the chat hear operators too
    heard = (await client.call("imbot.v2.Event.get", {"botId": bot_id}))["events"]
    assert heard[-1]["data"]["user"]["connector"] is False
    chat = await fake.open_line_chat()
    assert await client.call("imopenlines.bot.session.operator", {"CHAT_ID": chat.id}) is True
    assert [(t.chat_id, t.kind) for t in fake.transfers] == [(chat.id, "operator")]
    with pytest.raises(Bitrix24Error) as twice:
        await client.call("imopenlines.bot.session.operator", {"CHAT_ID": chat.id})
    assert (twice.value.code, twice.value.status) == ("WRONG_CHAT", 400)
    before = len(fake.pending_events("helpbot"))
    await fake.customer_sends(chat, "алло?")
    assert len(fake.pending_events("helpbot")) == before
    other = await fake.open_line_chat()
    assert await client.call("imopenlines.bot.session.finish", {"CHAT_ID": other.id}) is True
    assert fake.calls_to("imopenlines.bot.session.finish")[0].params["CLIENT_ID"] == BOT_TOKEN


async def test_webhook_mode_posts_form_encoded_events_with_the_application_token(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    received: list[tuple[str, dict[str, str]]] = []

    async def on_event(request: web.Request) -> web.Response:
        form = await request.post()
        received.append((request.content_type, {k: str(v) for k, v in form.items()}))
        return web.Response(status=200 if len(received) < 3 else 500)

    app = web.Application()
    app.router.add_post("/bitrix/events", on_event)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        # A webhook-registered bot gets events only at a URL naming its token (revision 33).
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/bitrix/events?CLIENT_ID={BOT_TOKEN}"
        await registered_bot(webhook_client(fake, http), eventMode="webhook", webhookUrl=url)
        chat = await fake.open_line_chat()
        await fake.customer_sends(chat, "Здравствуйте")
        await fake.customer_sends(chat, "Есть кто?")
    finally:
        await runner.cleanup()
    kind, form = received[1]
    assert kind == "application/x-www-form-urlencoded"
    assert form["event"] == "ONIMBOTV2MESSAGEADD"
    assert form["auth[application_token]"] == "custom" + BOT_TOKEN == fake.event_token("helpbot")
    assert form["data[chat][entityType]"] == "LINES"
    assert (form["data[user][connector]"], form["data[message][isSystem]"]) == ("1", "0")
    assert not any(key.startswith("data[bot][auth]") for key in form)  # no app, no bot token
    assert [d.status for d in fake.deliveries] == [200, 200, 500]  # no retry after a failure


async def test_a_lost_answer_is_safe_to_repeat_with_the_same_template_id(
    fake: FakeBitrix24, http: aiohttp.ClientSession
) -> None:
    client = webhook_client(fake, http, request_timeout=0.2, max_attempts=2)
    bot_id = await registered_bot(client)
    chat = await fake.open_line_chat()

    def send(text: str, template_id: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {"message": text}
        if template_id is not None:
            fields["templateId"] = template_id
        return {"botId": bot_id, "dialogId": chat.dialog_id, "fields": fields}

    # Without a templateId the time-out's retry posts the message a second time...
    fake.answer_late_next(1.0)
    await client.call("imbot.v2.Chat.Message.send", send("без ключа", None))
    assert [m.text for m in fake.bot_messages(chat)] == ["без ключа", "без ключа"]
    # ...with one, the portal answers the retry with the message it already posted.
    template_id = "0b5e3c1e-8f0a-4d57-9a7e-3c2f1d0e9b8a"
    fake.answer_late_next(1.0)
    result = await client.call("imbot.v2.Chat.Message.send", send("с ключом", template_id))
    posted = [m for m in fake.bot_messages(chat) if m.text == "с ключом"]
    assert len(posted) == 1 and result["id"] == posted[0].id
    assert posted[0].entity(chat.id)["uuid"] == template_id
    again = await client.call("imbot.v2.Chat.Message.send", send("с ключом", template_id))
    assert again["id"] == posted[0].id and len(fake.bot_messages(chat)) == 3
