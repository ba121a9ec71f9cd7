"""End to end, the portal's refusals and its length limit: a refusal of the whole portal holds
every reply, one for a chat gives up that chat's calls only and hands its customer to the
line's queue once, and a reply over 20,000 characters is shortened by the bot on a safe
boundary before the portal would cut it anywhere.

bitrix24/b24restdocs ``_includes/system-errors.md``: the REST server itself answers 401
``ACCESS_DENIED`` "REST is available only on commercial plans" to every method of a portal
whose plan has no REST; a method's own ``ACCESS_DENIED`` (HTTP 400 from its controller) concerns
one chat (``CheckActionAccess``: the bot is not a member).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from bitrix24_scenes import handled, scene
from deadline import until
from pydantic import SecretStr
from sqlalchemy import select
from test_bitrix24 import BOT_TOKEN, QUESTION, Mode, inbox_settled, open_chat, portal_and_app

from bot.delivery.outcome import ANSWER
from bot.services import Services
from bot.storage.models import DeliveryStatus, OutboxMessage, Ticket
from bot.texts import phrase
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.render import MAX_TEXT
from handlers.bitrix24.replies import GREETING_KIND
from handlers.bitrix24.storage import handed_ref
from knowledge.base import KnowledgeBase

SEND = "imbot.v2.Chat.Message.send"
POLL = "imbot.v2.Event.get"
ARTICLE = "https://helpdesk.example.com/zebroid/"
ZEBROID = "как подключить виджет зеброид"
RECHECK = {"recheck_after": 0.5}  # seconds before a channel that is not ready is tried again


async def _ready(base: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as response:
        return response.status, json.loads(await response.text())


async def _sends(services: Services) -> list[tuple[str, str | None]]:
    async with services.sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.status, OutboxMessage.error)
            .where(OutboxMessage.method == SEND)
            .order_by(OutboxMessage.id)
        )
        return [(str(status), error) for status, error in rows]


async def test_a_lapsed_plan_holds_the_replies_and_readyz_names_it_until_renewed(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    # Before: ACCESS_DENIED gave each reply up (Failed) and /readyz stayed 200.
    mode: Mode = "webhook"  # the portal still pushes events; its REST refuses every call
    async with portal_and_app(
        sqlite_db_url, kb, mode, require_client_id_in_url=False, delivery=RECHECK,
        bitrix={"app_token": SecretStr("custom" + BOT_TOKEN)},  # what a webhook bot's events carry
    ) as (fake, services, settings):  # fmt: skip
        base = settings.bitrix.public_url
        chat = await open_chat(fake)
        fake.lapse_plan()
        before = len(fake.bot_messages(chat))
        await fake.customer_sends(chat, QUESTION)

        async def refused() -> dict[str, Any]:
            status, body = await _ready(base)
            return body["failed"] if status == 503 else {}

        await until(refused, "/readyz says 503")
        failed = await refused()
        assert "ACCESS_DENIED" in failed["bitrix24"], failed
        assert "REST is available only" in failed["bitrix24"]
        await fake.wait_for(lambda: len(fake.calls_to(SEND)) >= 3, 10, "tries while lapsed")
        assert (await _sends(services))[-1][0] == DeliveryStatus.PENDING
        assert len(fake.bot_messages(chat)) == before  # nothing posted, nothing given up
        fake.renew_plan()
        await fake.wait_for(lambda: len(fake.bot_messages(chat)) > before, 15, "the answer")
        await until(lambda: inbox_settled(services), "the outbox drained")
        assert (await _ready(base))[0] == 200
        assert len(fake.bot_messages(chat)) == before + 1
        assert all(status == DeliveryStatus.DONE for status, _ in await _sends(services))


async def _tickets(services: Services) -> list[Ticket]:
    async with services.sessions() as session:
        return list((await session.scalars(select(Ticket).order_by(Ticket.id))).all())


async def test_a_chat_that_refuses_the_bot_hands_its_customer_to_the_lines_queue_once(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    # Before: the refused answer was given up with one log line and the customer heard nothing.
    async with portal_and_app(sqlite_db_url, kb, "fetch", delivery=RECHECK) as (
        fake,
        services,
        settings,
    ):
        base = settings.bitrix.public_url
        gone, other = await open_chat(fake, "Gone"), await open_chat(fake, "Other")
        fake.go_down(POLL)  # the question waits on the portal
        refused = len([c for c in fake.calls_to(POLL) if c.status == 503])
        # A poll refused after go_down: the poller (one poll at a time) has none in flight.
        await fake.wait_for(
            lambda: len([c for c in fake.calls_to(POLL) if c.status == 503]) > refused, 10, "a poll"
        )
        question = await fake.customer_sends(gone, QUESTION)
        gone.members.discard(fake.bot("helpbot").id)  # the bot was removed from that chat
        fake.come_back()
        await handled(fake, services, question)  # fetched, its refused reply handed over

        # The answer (ACCESS_DENIED: the bot is no participant, final) is given up; no card
        # note is queued (the same method into the same chat: refused the same way), the
        # session went to the line's queue once, the ticket keeping it as its ref and the
        # refusal as its reason (what `helpbot operator` shows).
        async with services.sessions() as session:
            sends = (
                await session.execute(
                    select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.error)
                    .where(OutboxMessage.method == SEND, OutboxMessage.chat_id == gone.dialog_id)
                    .order_by(OutboxMessage.id)
                )
            ).all()
            row = await session.get(BitrixChat, gone.id)
        failed = [(kind, error or "") for kind, status, error in sends if status == "failed"]
        assert [kind for kind, _ in failed] == [ANSWER], sends
        assert [kind for kind, _, _ in sends] == [GREETING_KIND, ANSWER], sends  # no note
        assert all(error.startswith("ACCESS_DENIED") for _, error in failed)
        assert [(t.chat_id, t.kind) for t in fake.transfers] == [(gone.id, "operator")]
        (ticket,) = await _tickets(services)
        assert ticket.status == "waiting" and ticket.reason.startswith("undelivered:ACCESS_DENIED")
        assert ticket.question == QUESTION
        assert row is not None and row.handed_session == str(gone.session.id)
        assert ticket.external_ref == handed_ref(gone.id, row.handed_session)
        assert (await _ready(base))[0] == 200

        before = len(fake.bot_messages(other))
        await fake.customer_sends(other, QUESTION)
        await fake.wait_for(lambda: len(fake.bot_messages(other)) > before, 15, "other's answer")
        await until(lambda: inbox_settled(services), "the outbox drained")
        assert len(fake.transfers) == 1 and len(await _tickets(services)) == 1

        # The line's operator ends that session; the customer's next one is the bot's again
        # (it joins anew) and the handed-off ticket is released with it.
        await fake.operator_finishes(gone)
        before = len(fake.bot_messages(gone))
        await fake.customer_sends(gone, QUESTION)
        await fake.wait_for(lambda: len(fake.bot_messages(gone)) > before + 1, 15, "answered")
        await until(lambda: inbox_settled(services), "the outbox drained")
        (ticket,) = await _tickets(services)
        assert ticket.status == "closed" and len(fake.transfers) == 1


async def test_a_reply_over_the_portals_limit_reaches_the_customer_with_whole_tags(
    sqlite_db_url: str, tmp_path: Path
) -> None:
    # A company's article with a title far over the portal's 20,000 characters: before, the
    # reply was cut at 20,000 wherever that fell (inside [url=…], or dropping the link).
    title = "Подключение виджета Зеброид " + "к открытой линии на сайте " * 1000
    (tmp_path / "huge.md").write_text(
        f"---\ntitle: {title}\nurl: {ARTICLE}\nquestions:\n  - {ZEBROID}\n---\n"
        "Виджет Зеброид подключают в настройках открытой линии.\n",
        encoding="utf-8",
    )
    async with scene(sqlite_db_url, KnowledgeBase.load(tmp_path), "fetch") as (fake, services):
        chat = await open_chat(fake)
        before = len(fake.bot_messages(chat))
        await fake.customer_sends(chat, ZEBROID)
        await fake.wait_for(lambda: len(fake.bot_messages(chat)) > before, 15, "the answer")
        await until(lambda: inbox_settled(services), "the outbox drained")
        text = fake.bot_messages(chat)[-1].text
        assert len(text) <= MAX_TEXT and not text.endswith(" (...)")  # the portal cut nothing
        assert text.count(f"[url={ARTICLE}]") == 1 and text.count("[/url]") == 1
        assert text.index(f"[url={ARTICLE}]Подключение виджета") < text.index("…[/url]")
        assert text.endswith(phrase("choose_by_number", "ru")) and "\n1. " in text
