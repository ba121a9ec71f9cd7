"""FakeBitrix24 over plain HTTP: revisions, events, webhook-mode POSTs, message uuids and text.

Each test names its source in ``yuliai/bitrix-modules`` at ``a3a2a579`` (REST revision 33) or in
``bitrix24/b24restdocs``.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from fake_b24_http import (  # noqa: F401 (fixtures, known to pytest by name)
    BOT_TOKEN,
    PortalClock,
    Rest,
    clock_fixture,
    clocked_fake_fixture,
    http_fixture,
    receiver,
    rest_fixture,
)
from fakes.bitrix24 import FakeBitrix24


@pytest.mark.parametrize(("revision", "status"), [(33, 200), (32, 404)])
async def test_revision_get_exists_from_revision_33(
    http: aiohttp.ClientSession, revision: int, status: int
) -> None:
    """``imbot.v2.Revision.get`` (``imbot/lib/V2/Controller/Revision.php``, no bot or token)
    answers ``Im\\Revision::get()``; added in REST 33 (BOT-NEW-0402-1), so older portals answer
    404 ``ERROR_METHOD_NOT_FOUND`` (``rest.php:224``)."""
    async with FakeBitrix24(revision=revision) as fake:
        answer = await Rest(fake, http)("imbot.v2.Revision.get", token=False)
        assert answer.status == status
        if status == 200:
            assert answer.result == {"rest": 33, "web": 130, "mobile": 23, "desktop": 6}
        else:
            assert answer.error == "ERROR_METHOD_NOT_FOUND"


async def test_event_get_pages_with_next_offset(fake: FakeBitrix24, rest: Rest) -> None:
    """``EventService::fetchEventsForRest`` (``im/lib/V2/EventLog/EventService.php:22-113``):
    ``nextOffset = max(offset, last + 1)`` — the offset sent back on an empty page;
    ``hasMore = count >= limit`` even on an exactly full last page; an ``offset`` deletes the
    events below it."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    await fake.customer_sends(chat, "раз")
    page = (await rest("imbot.v2.Event.get", {"botId": bot_id, "limit": 2})).result
    assert (len(page["events"]), page["hasMore"]) == (2, True)
    offset = page["nextOffset"]
    assert offset == page["events"][-1]["eventId"] + 1
    empty = (await rest("imbot.v2.Event.get", {"botId": bot_id, "offset": offset})).result
    assert (empty["events"], empty["nextOffset"], empty["hasMore"]) == ([], offset, False)
    assert fake.pending_events("helpbot") == []


async def test_an_older_portal_answers_last_event_id(http: aiohttp.ClientSession) -> None:
    """Before BOT-BC-0325-1 (change log, 25.03.2026) ``Event.get`` answered ``lastEventId`` and
    the client computed ``lastEventId + 1``; what came on an empty page is unknown (this fake:
    ``offset - 1``)."""
    async with FakeBitrix24(revision=31) as fake:
        rest = Rest(fake, http)
        bot_id = await rest.bot()
        await fake.open_line_chat()
        page = (await rest("imbot.v2.Event.get", {"botId": bot_id})).result
        assert "nextOffset" not in page
        assert page["lastEventId"] == page["events"][-1]["eventId"]
        after = page["lastEventId"] + 1
        empty = (await rest("imbot.v2.Event.get", {"botId": bot_id, "offset": after})).result
        assert (empty["events"], empty["lastEventId"]) == ([], after - 1)


async def test_events_expire_after_a_day(
    fake: FakeBitrix24, rest: Rest, clock: PortalClock
) -> None:
    """``EventService::EXPIRY_HOURS = 24`` and ``cleanAgent`` (``EventService.php:121-130``): a
    bot that does not poll for a day loses its events."""
    bot_id = await rest.bot()
    await fake.open_line_chat()
    clock.now += 24 * 3600 + 1
    assert await rest.events(bot_id) == []


async def test_webhook_events_of_an_oauth_app_carry_its_install_token(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """An app's handler: ``application_token`` = ``CRestUtil::getApplicationToken`` — the token
    ONAPPINSTALL carried (``rest/lib/event/sender.php:236-244``); its bots get bot-scoped tokens
    in ``data[bot][auth]`` (``imbot/lib/restservice.php:31-39``)."""
    async with receiver() as got:
        fields = {"code": "appbot", "type": "openline", "eventMode": "webhook"}
        fields |= {"webhookUrl": got.url, "properties": {"name": "App bot"}}
        await rest.oauth("imbot.v2.Bot.register", {"fields": fields})
        await fake.open_line_chat()
    [form] = got.forms
    assert form["auth[application_token]"] == fake.application_token
    assert form["data[bot][auth][access_token]"]


async def test_a_webhook_bot_gets_events_only_at_a_url_naming_its_token(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """A webhook-registered v2 bot: ``BotWebhookPayloadBuilder::resolveAppCode`` takes the app
    code from ``CLIENT_ID`` in the handler URL, else "Event is intended for another application"
    and nothing is POSTed (``im/lib/V2/Event/BotWebhookPayloadBuilder.php:205-218``); the token
    is ``"custom" + botToken`` (``Bot::bindV2RestEvents``, ``Bot.php:461-515``,
    ``sender.php:258``) and there is no ``data[bot][auth]``. Source-read, not documented."""
    async with receiver() as got:
        await rest.bot(eventMode="webhook", webhookUrl=got.url)
        await fake.open_line_chat()
        assert (got.forms, fake.undelivered[0][2]) == (
            [], "Event is intended for another application"
        )  # fmt: skip
        update = {"eventMode": "webhook", "webhookUrl": f"{got.url}?CLIENT_ID={BOT_TOKEN}"}
        bot_id = fake.bot("helpbot").id
        await rest("imbot.v2.Bot.update", {"botId": bot_id, "fields": update})
        await fake.open_line_chat()
    [form] = got.forms
    assert form["auth[application_token]"] == "custom" + BOT_TOKEN
    assert not [k for k in form if k.startswith("data[bot][auth]")]


async def test_the_install_event_carries_the_application_token(fake: FakeBitrix24) -> None:
    """ONAPPINSTALL (docs ``api-reference/common/events/on-app-install.md``): a form with
    ``event``, ``data[VERSION|ACTIVE|INSTALLED|LANGUAGE_ID]``, ``ts`` and ``auth[...]`` — the
    ``application_token`` every later event of the app carries."""
    async with receiver("/install") as got:
        assert (await fake.install(got.url)).status == 200
    [form] = got.forms
    assert form["event"] == "ONAPPINSTALL" and form["data[LANGUAGE_ID]"] == "ru"
    assert form["auth[application_token]"] == fake.application_token
    assert form["auth[client_endpoint]"] == fake.portal.client_endpoint


async def test_a_repeated_uuid_answers_the_first_message(fake: FakeBitrix24, rest: Rest) -> None:
    """``SendingService::checkDuplicateByUuid`` (``SendingService.php:59-92``): a uuid with a
    message posts nothing and answers its id; ``Uuid::validate`` takes lower-case UUIDv4 only,
    so an upper-case one is not deduplicated (``im/lib/Message/Uuid.php:87-92``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    key = str(uuid.uuid4())
    first = (await rest.send(bot_id, chat.dialog_id, message="a", templateId=key)).result
    again = (await rest.send(bot_id, chat.dialog_id, message="a", templateId=key)).result
    assert again == first == {"id": first["id"], "uuidMap": []}
    for _ in range(2):
        await rest.send(bot_id, chat.dialog_id, message="b", templateId=key.upper())
    assert [m.text for m in fake.bot_messages(chat)] == ["a", "b", "b"]


async def test_a_uuid_left_without_a_message_blocks_for_an_hour(
    fake: FakeBitrix24, rest: Rest, clock: PortalClock
) -> None:
    """A send that registered its uuid and failed (``SENDING_FAILED``, 400) leaves a row without a
    message: resends get 400 ``MESSAGE_DUPLICATED_BY_UUID`` for ``Uuid::TTL`` = 3600 s, then
    ``updateIfExpired`` lets the next one post (``Uuid.php:140-175``, ``rest.php:877-881``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    key = str(uuid.uuid4())
    fake.fail_after_uuid_registered()
    failed = await rest.send(bot_id, chat.dialog_id, message="a", templateId=key)
    assert (failed.status, failed.error) == (400, "SENDING_FAILED")
    clock.now += 3599
    held = await rest.send(bot_id, chat.dialog_id, message="a", templateId=key)
    assert (held.status, held.error) == (400, "MESSAGE_DUPLICATED_BY_UUID")
    clock.now += 2
    assert (await rest.send(bot_id, chat.dialog_id, message="a", templateId=key)).status == 200
    assert [m.text for m in fake.bot_messages(chat)] == ["a"]


async def test_a_resend_while_the_first_send_runs_is_refused(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """While the first send runs its uuid has no message yet: a concurrent resend is
    ``MESSAGE_DUPLICATED_BY_UUID``; the first then completes (``SendingService.php:59-92``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    key = str(uuid.uuid4())
    fake.hold_send_next(0.5)
    first = asyncio.ensure_future(rest.send(bot_id, chat.dialog_id, message="a", templateId=key))
    await fake.wait_for(lambda: key in fake.portal.uuids, 5, "the uuid registered")
    second = await rest.send(bot_id, chat.dialog_id, message="a", templateId=key)
    assert (second.status, second.error) == (400, "MESSAGE_DUPLICATED_BY_UUID")
    assert (await first).status == 200
    assert len(fake.bot_messages(chat)) == 1


async def test_a_uuid_is_forgotten_after_31_days(
    fake: FakeBitrix24, rest: Rest, clock: PortalClock
) -> None:
    """``Uuid::cleanOldRecords`` deletes rows older than 31 days (``Uuid.php:211-226``): the same
    uuid then posts again."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    key = str(uuid.uuid4())
    await rest.send(bot_id, chat.dialog_id, message="a", templateId=key)
    clock.now += 31 * 86400 + 1
    await rest.send(bot_id, chat.dialog_id, message="a", templateId=key)
    assert len(fake.bot_messages(chat)) == 2


async def test_the_portal_reads_bb_code_quotes_and_breaks(fake: FakeBitrix24, rest: Rest) -> None:
    """``#BR#``/``[br]`` become newlines when stored (``Message::setMessage``, ``Message.php:953``);
    a ``>>`` line and a 54-dash block are quotes (``im_messenger.php:3586``, ``text.php:229,340``);
    tags in any case (``Text::removeBbCodes``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    dashes = "-" * 54
    text = f"a#BR#b\n>> цитата\n{dashes}блок{dashes}\n[B]x[/B]"
    await rest.send(bot_id, chat.dialog_id, message=text)
    message = fake.bot_messages(chat)[-1]
    assert message.text.startswith("a\nb\n")
    # The quote-line pattern /^(>>(.*)(\n)?)/mi takes its line break with it.
    assert fake.rendered_text(message) == "a\nb\n [Quote]  [Quote] \nx"


async def test_text_is_cut_beyond_20006_characters(fake: FakeBitrix24, rest: Rest) -> None:
    """``Message::setMessage`` cuts a text over ``MESSAGE_MAX_LENGTH + 6`` to 20,000 characters
    plus `` (...)`` (``Message.php:955-958``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    await rest.send(bot_id, chat.dialog_id, message="x" * 20_006)
    await rest.send(bot_id, chat.dialog_id, message="y" * 20_007)
    kept, cut = fake.bot_messages(chat)
    assert (len(kept.text), cut.text[-6:], len(cut.text)) == (20_006, " (...)", 20_006)
