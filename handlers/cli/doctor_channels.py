"""`helpbot doctor`'s channel checks, one function per channel: what Telegram and the Bitrix24
portal say about our token, webhook, operators' group, bot and its command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from handlers.cli.doctor_report import Check, fail, ok, warn
from handlers.settings import Settings

if TYPE_CHECKING:
    from aiogram.types import WebhookInfo

__all__ = ["check_bitrix24", "check_telegram"]

TIMEOUT = 10.0  # seconds an outside API has to answer one call of the doctor
# Telegram retries a failed webhook delivery with a growing pause of at most a minute or two
# (tests/fakes/telegram/webhook.py, WebhookPolicy): a webhook still failing has a newer error.
DELIVERY_RETRYING = timedelta(minutes=10)


async def check_telegram(settings: Settings) -> list[Check]:
    """Token (getMe), webhook (getWebhookInfo) and the operators' forum (getChat,
    getChatMember: a forum where the bot is an administrator that may manage topics)."""
    from aiogram import Bot  # aiogram loads slowly: only when Telegram is configured
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError

    tg, chat_id = settings.telegram, settings.operator.chat_id
    assert tg.bot_token is not None  # the caller checks tg.enabled
    api = TelegramAPIServer.from_base(tg.api_url)
    session = AiohttpSession(api=api, timeout=TIMEOUT)
    checks: list[Check] = []
    async with Bot(tg.bot_token.get_secret_value(), session=session) as bot:
        try:
            me = await bot.get_me()
            checks.append(ok("telegram", f"token valid: @{me.username} (id {me.id})"))
            info = await bot.get_webhook_info()
            checks.append(_webhook(tg.mode, tg.webhook_url, info.url, info.pending_update_count))
            if info.last_error_date is not None and info.url:
                ours = tg.mode == "webhook" and info.url == tg.webhook_url
                checks.append(_delivery(ours, info, datetime.now(UTC)))
            if chat_id is None:
                checks.append(warn("telegram", "OPERATOR_CHAT_ID is not set: no operators' group"))
                return checks
            chat = await bot.get_chat(chat_id)
            member = await bot.get_chat_member(chat_id, me.id)
        except TelegramUnauthorizedError:
            checks.append(fail("telegram", "Telegram rejected TELEGRAM_BOT_TOKEN (revoked?)"))
            return checks
        except TelegramAPIError as exc:
            group = f"OPERATOR_CHAT_ID={chat_id}: " if checks and chat_id is not None else ""
            checks.append(fail("telegram", f"{group}{type(exc).__name__}: {exc.message}"))
            return checks
        except Exception as exc:  # the network, a broken answer: all mean "cannot check"
            where = f"TELEGRAM_API_URL={tg.api_url}"
            checks.append(fail("telegram", f"{where}: {type(exc).__name__}: {exc}"))
            return checks
    group = f"operators' group {chat_id} ({chat.title})"
    if chat.type != "supergroup" or not chat.is_forum:
        checks.append(fail("telegram", f"{group}: not a forum: turn on Topics in that group"))
    elif member.status != "creator" and not getattr(member, "can_manage_topics", False):
        problem = "make the bot an administrator who may manage topics"
        checks.append(fail("telegram", f"{group}: {problem} (now: {member.status})"))
    else:
        checks.append(ok("telegram", f"{group}: a forum, the bot may manage topics"))
    return checks


def _webhook(mode: str, wanted: str, current: str, pending: int) -> Check:
    # Webhook URLs may carry secrets in their path: they are compared, never printed.
    if mode == "polling":
        if current:
            note = "a webhook is set; `helpbot serve` removes it when it starts polling"
            return warn("telegram", f"polling mode, but {note}")
        return ok("telegram", f"polling mode, no webhook set ({pending} update(s) waiting)")
    if not current:
        return warn("telegram", "webhook mode: no webhook set yet (`helpbot serve` sets it)")
    if current != wanted:
        return fail("telegram", "the webhook set on Telegram is not TELEGRAM_WEBHOOK_URL")
    return ok("telegram", f"webhook set to TELEGRAM_WEBHOOK_URL ({pending} update(s) waiting)")


def _delivery(ours: bool, info: WebhookInfo, now: datetime) -> Check:
    """Whether Telegram reaches our webhook. getWebhookInfo gives the time of the last failed
    delivery, not of the last good one: the error fails the check only while updates wait and it
    is recent enough to be one of Telegram's current retries."""
    when = info.last_error_date
    assert when is not None  # the caller checks
    at = f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    waiting = info.pending_update_count
    if ours and waiting and now - when < DELIVERY_RETRYING:
        problem = f"Telegram cannot deliver to TELEGRAM_WEBHOOK_URL: {info.last_error_message}"
        advice = "is `helpbot serve` running and reachable at that address?"
        return fail("telegram", f"{problem} (at {at}, {waiting} update(s) waiting): {advice}")
    return warn(
        "telegram", f"Telegram's last webhook delivery failed at {at}: {info.last_error_message}"
    )


async def check_bitrix24(settings: Settings) -> list[Check]:
    """The portal (``profile``), our bot (``imbot.v2.Bot.get`` by code) and its command
    (``imbot.v2.Command.list``), through the project's REST client."""
    from handlers.bitrix24.rest.errors import AuthenticationFailed, Bitrix24Error, NotFound

    bitrix = settings.bitrix
    checks: list[Check] = []
    try:
        async with _bitrix_client(settings) as client:
            profile = await client.call("profile")
            name = " ".join(str(profile.get(k) or "") for k in ("NAME", "LAST_NAME")).strip()
            user = f"user {profile.get('ID')}" + (f" ({name})" if name else "")
            checks.append(ok("bitrix24", f"portal {client.portal} answers as {user}"))
            try:
                found = await client.call("imbot.v2.Bot.get", {"code": bitrix.bot_code})
            except NotFound:
                problem = f"no bot {bitrix.bot_code!r} on the portal: run `helpbot bitrix register`"
                checks.append(fail("bitrix24", problem))
                return checks
            bot = found.get("bot", {}) if isinstance(found, dict) else {}
            checks.append(_registered(bot, bitrix.bot_code, bitrix.event_mode))
            listed = await client.call("imbot.v2.Command.list", {"botId": bot.get("id")})
    except AuthenticationFailed as exc:
        checks.append(fail("bitrix24", f"the portal refused helpbot's credentials: {exc}"))
        return checks
    except Bitrix24Error as exc:
        checks.append(fail("bitrix24", f"{type(exc).__name__}: {exc}"))
        return checks
    except Exception as exc:  # the token store's database, a broken answer: "cannot check"
        checks.append(fail("bitrix24", f"cannot check the portal: {type(exc).__name__}: {exc}"))
        return checks
    checks.append(_command(listed))
    return checks


def _registered(bot: dict[str, Any], code: str, event_mode: str) -> Check:
    registered = f"bot {code!r} registered: id {bot.get('id')}"
    mode = bot.get("eventMode")
    if mode and mode != event_mode:
        return fail(
            "bitrix24",
            f"{registered}, with eventMode={mode} but BITRIX_EVENT_MODE={event_mode}: "
            "run `helpbot bitrix register` (it updates the mode)",
        )
    return ok("bitrix24", f"{registered}, events by {mode or event_mode}")


def _command(listed: Any) -> Check:
    from handlers.bitrix24.render import COMMAND

    commands = listed.get("commands", []) if isinstance(listed, dict) else []
    ours = [
        c for c in commands
        if isinstance(c, dict) and str(c.get("command", "")).lstrip("/") == COMMAND
    ]  # fmt: skip
    if not ours:
        problem = f"the bot has no /{COMMAND} command, so buttons do nothing"
        return fail("bitrix24", f"{problem}: run `helpbot bitrix register`")
    # Command.list answers the flag as "extranet": "Y"/"N" (Entity\Command::toRestFormat).
    if str(ours[0].get("extranet", "Y")).upper() not in ("Y", "1", "TRUE"):
        problem = f"/{COMMAND} is closed to extranet users, so customers' presses are dropped"
        return fail("bitrix24", f"{problem}: run `helpbot bitrix register` to repair it")
    return ok("bitrix24", f"command /{COMMAND} registered (buttons reach the bot)")


@asynccontextmanager
async def _bitrix_client(settings: Settings) -> AsyncIterator[Any]:
    """The project's REST client, failing fast: one attempt, a short time-out."""
    from handlers.bitrix24.rest.client import create_client

    bitrix = settings.bitrix.model_copy(
        update={"max_attempts": 1, "request_timeout": TIMEOUT, "connect_timeout": TIMEOUT}
    )
    if bitrix.auth_mode != "oauth":
        async with create_client(bitrix) as client:
            yield client
        return
    from bot.app import build
    from handlers.bitrix24.rest.store import DatabaseTokenStore  # the application's tokens

    async with build(settings, schema="any") as app:  # the schema is a check of its own
        store = DatabaseTokenStore((await app.database()).sessions, app.clock)
        async with create_client(bitrix, token_store=store) as client:
            yield client
