"""FakeBitrix24 over plain HTTP: envelopes, statuses, limits, batch, bots and their tokens.

Each test names its source in ``yuliai/bitrix-modules`` at ``a3a2a579`` (REST revision 33) or in
``bitrix24/b24restdocs``.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from fake_b24_http import (  # noqa: F401 (fixtures, known to pytest by name)
    BOT_TOKEN,
    PortalClock,
    Rest,
    clock_fixture,
    clocked_fake_fixture,
    http_fixture,
    rest_fixture,
)
from fakes.bitrix24 import FakeBitrix24


async def test_operation_time_limit_blocks_one_method_for_a_period(
    fake: FakeBitrix24, rest: Rest, clock: PortalClock
) -> None:
    """``CRestServer::processCall`` (``rest/classes/general/rest.php:198-214``) with
    ``LoadLimiter`` (``rest/lib/engine/access/loadlimiter.php``): 429 ``OPERATION_TIME_LIMIT``,
    no ``time`` block, for that method until its bucket resets; other methods go on."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    fake.block_method("imbot.v2.Chat.Message.send", 120)
    blocked = await rest.send(bot_id, chat.dialog_id, message="?")
    assert (blocked.status, blocked.body) == (
        429,
        {"error": "OPERATION_TIME_LIMIT",
         "error_description": "Method is blocked due to operation time limit."},
    )  # fmt: skip
    assert (await rest("imbot.v2.Event.get", {"botId": bot_id})).status == 200
    clock.now += 119
    assert (await rest.send(bot_id, chat.dialog_id, message="?")).status == 429
    clock.now += 2
    assert (await rest.send(bot_id, chat.dialog_id, message="?")).status == 200


async def test_operating_reset_at_comes_only_with_recorded_time(
    fake: FakeBitrix24, rest: Rest, clock: PortalClock
) -> None:
    """``appendDebugInfo`` (``rest.php:731-760``): ``time.operating`` on every answer while the
    limiter is active, ``time.operating_reset_at`` only when that method has time recorded."""
    bot_id = await rest.bot()
    plain = await rest("imbot.v2.Event.get", {"botId": bot_id})
    assert plain.body["time"]["operating"] == 0 and "operating_reset_at" not in plain.body["time"]
    fake.strain_method("imbot.v2.Event.get", 300.5, 200)
    strained = (await rest("imbot.v2.Event.get", {"botId": bot_id})).body["time"]
    assert (strained["operating"], strained["operating_reset_at"]) == (300.5, int(clock.now) + 200)


async def test_bot_list_pages_by_50_and_bot_get_finds_a_code(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``Bot::listAction`` (``Bot.php:350-390``): the caller's bots, ``limit`` 50,
    ``hasNextPage = count == limit``; ``Bot::getAction`` by ``code`` alone
    (``resolveFlexibleBot``, 397-435), the brief format for another app's bot."""
    for n in range(59):
        fake.add_bot(f"bot{n:02}", bot_token=BOT_TOKEN)
    mine = await rest.bot()
    page = (await rest("imbot.v2.Bot.list")).result
    assert (len(page["bots"]), page["hasNextPage"]) == (50, True)
    rest_of = (await rest("imbot.v2.Bot.list", {"offset": 50})).result
    assert (len(rest_of["bots"]), rest_of["hasNextPage"]) == (10, False)
    assert (await rest("imbot.v2.Bot.get", {"code": "helpbot"})).result["bot"]["id"] == mine
    fake.add_bot("foreign")
    brief = (await rest("imbot.v2.Bot.get", {"code": "foreign"})).result["bot"]
    assert "eventMode" not in brief and "moduleId" not in brief


async def test_bot_objects_carry_app_id_before_revision_35(http: aiohttp.ClientSession) -> None:
    """``appId`` was in the owner format until REST 35 (BOT-FIX-0501-3): a fetch-mode event of a
    webhook-registered bot then shows ``"custom" + botToken`` in ``data.bot.appId``."""
    async with FakeBitrix24(revision=34) as fake:
        rest = Rest(fake, http)
        bot_id = await rest.bot()
        await fake.open_line_chat()
        assert (await rest.events(bot_id))[0]["data"]["bot"]["appId"] == "custom" + BOT_TOKEN


async def test_imbot_v2_errors_are_http_400(fake: FakeBitrix24, rest: Rest) -> None:
    """Every controller error becomes a ``RestException`` without a status, which ``getStatus``
    answers as 400 (``rest/lib/engine/restmanager.php:351-367``, ``restexception.php:43-46``)."""
    bot_id = await rest.bot()
    rest.token = "someone-else"
    foreign = await rest("imbot.v2.Bot.unregister", {"botId": bot_id})
    rest.token = BOT_TOKEN
    outsider = await rest.send(bot_id, "chat999999", message="?")
    assert [(a.status, a.error) for a in (foreign, outsider)] == [
        (400, "BOT_OWNERSHIP_ERROR"),
        (400, "ACCESS_DENIED"),
    ]


async def test_missing_bot_token_per_revision(http: aiohttp.ClientSession) -> None:
    """``BOT_TOKEN_NOT_SPECIFIED`` in both public releases (``BotController.php:51``); older cloud
    builds said ``CLIENT_ID_NOT_SPECIFIED`` (change log BOT-FIX-0408-6)."""
    for revision, code in ((36, "BOT_TOKEN_NOT_SPECIFIED"), (31, "CLIENT_ID_NOT_SPECIFIED")):
        async with FakeBitrix24(revision=revision) as fake:
            answer = await Rest(fake, http)("imbot.v2.Bot.list", token=False)
            assert (answer.status, answer.error) == (400, code)


async def test_errors_have_no_time_block_and_answers_do(fake: FakeBitrix24, rest: Rest) -> None:
    """Success ``{"result", "time"}`` (``CRestServer::appendDebugInfo``); errors
    ``{"error", "error_description"}`` only (``RestException::output``, ``restexception.php:
    116-122``)."""
    ok = await rest("imbot.v2.Bot.list")
    bad = await rest("imbot.v2.Bot.get")
    assert set(ok.body) == {"result", "time"}
    assert bad.body == {
        "error": "PARAMS_REQUIRED",
        "error_description": "botId or code is required",
    }


@pytest.mark.parametrize(
    ("code", "status"),
    [("OVERLOAD_LIMIT", 401), ("PORTAL_DELETED", 403), ("insufficient_scope", 401)],
)
async def test_fault_statuses_follow_the_source(
    fake: FakeBitrix24, rest: Rest, code: str, status: int
) -> None:
    """``OVERLOAD_LIMIT``: ``OAuthException`` without a status → 401 (``rest/lib/oauth/auth.php:
    88``); ``PORTAL_DELETED``: 403 (``rest.php:466``); ``insufficient_scope`` on the classic
    server: 401 (``rest/lib/oauthexception.php``)."""
    fake.fail_next(code)
    answer = await rest("imbot.v2.Bot.list")
    assert (answer.status, answer.error) == (status, code)


async def test_the_bucket_throttles_with_query_limit_exceeded(http: aiohttp.ClientSession) -> None:
    """The leaky bucket of ``api-reference/limits.md``: 2 requests/s drain, burst 50; over it 503
    ``QUERY_LIMIT_EXCEEDED`` "Too many requests"; it drains with time."""
    async with FakeBitrix24() as fake:
        rest = Rest(fake, http)
        answers = await asyncio.gather(*(rest("imbot.v2.Bot.list") for _ in range(55)))
        refused = [a for a in answers if a.status != 200]
        assert len(refused) == 5 and refused[0].body["error"] == "QUERY_LIMIT_EXCEEDED"
        assert {a.status for a in refused} == {503}
        await asyncio.sleep(0.6)  # time itself is what is tested: a slot drains in 0.5 s
        assert (await rest("imbot.v2.Bot.list")).status == 200


async def test_batch_follows_methods_batch(fake: FakeBitrix24, rest: Rest) -> None:
    """``CRestProvider::methodsBatch`` (``rest/classes/general/rest_provider.php:267-392``): keys
    in any case; each command beyond 50 gets ``ERROR_BATCH_LENGTH_EXCEEDED``; ``batch`` inside is
    ``ERROR_BATCH_METHOD_NOT_ALLOWED``; ``HALT`` is PHP truthiness (``"false"`` halts)."""
    list_call = f"imbot.v2.Bot.list?botToken={BOT_TOKEN}"
    cmd = {f"c{n}": list_call for n in range(52)} | {"nested": "batch"}
    result = (await rest("batch", {"CMD": cmd, "HALT": "0"}, token=False)).result
    assert len(result["result"]) == 50
    assert {e["error"] for e in result["result_error"].values()} == {"ERROR_BATCH_LENGTH_EXCEEDED"}
    small = {"a": "batch", "b": list_call}
    halted = (await rest("batch", {"cmd": small, "halt": "false"}, token=False)).result
    assert halted["result"] == [] and halted["result_error"]["a"]["error"] == (
        "ERROR_BATCH_METHOD_NOT_ALLOWED"
    )


async def test_method_names_are_read_in_any_case(rest: Rest) -> None:
    """``CRestServer`` lower-cases the method (``rest/classes/general/rest.php:87``)."""
    assert (await rest("IMBOT.V2.BOT.LIST")).status == 200


async def test_bot_register_is_idempotent_and_update_changes_the_mode(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``Bot::registerAction`` returns an existing bot of the same app unchanged
    (``Bot.php:106-125``); ``Bot::updateAction`` changes ``eventMode`` (238-330)."""
    bot_id = await rest.bot()
    again = {"code": "helpbot", "type": "openline", "eventMode": "webhook", "webhookUrl": "/x"}
    answer = await rest("imbot.v2.Bot.register", {"fields": again | {"properties": {"name": "H"}}})
    assert (answer.result["bot"]["id"], answer.result["bot"]["eventMode"]) == (bot_id, "fetch")
    update = {"botId": bot_id, "fields": {"eventMode": "webhook", "webhookUrl": "http://x/e"}}
    assert (await rest("imbot.v2.Bot.update", update)).result["bot"]["eventMode"] == "webhook"
