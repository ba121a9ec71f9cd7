"""FakeBitrix24 over plain HTTP: commands, keyboards and presses as the public core has them.

Each test names its source in ``yuliai/bitrix-modules`` at ``a3a2a579`` (REST revision 33;
``8c347630`` for revision 32) or in ``bitrix24/b24restdocs``.
"""

from __future__ import annotations

import aiohttp
import pytest
from fake_b24_http import Rest, fake_fixture, http_fixture, rest_fixture, types  # noqa: F401 (fixtures)
from fakes.bitrix24 import CustomerSeesNoButtons, FakeBitrix24

HELPED = {"TEXT": "Помогло", "COMMAND": "helpbot", "COMMAND_PARAMS": "h:1"}


async def test_a_connector_customer_is_extranet_and_an_operator_is_not(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``CIMContactList::IsExtranet`` is ``!isEmployee`` (``im_contact_list.php:1869-1896``); a
    connector user has no department; the v2 user shows ``extranet`` and ``type`` ``user`` for
    employees (``im/lib/V2/Entity/User/User.php:346-374``, ``UserType.php``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat(connector="telegrambot")
    await fake.customer_sends(chat, "Здравствуйте")
    await fake.operator_sends(chat, "Добрый день")
    users = [e["data"]["user"] for e in await rest.events(bot_id)][1:]
    assert [(u["extranet"], u["connector"], u["type"]) for u in users] == [
        (True, True, "extranet"),
        (False, False, "user"),
    ]


async def test_extranet_support_defaults_to_no(fake: FakeBitrix24, rest: Rest) -> None:
    """``EXTRANET_SUPPORT`` defaults to ``N`` (``imbot/lib/V2/Controller/Command.php:120``);
    the answer is ``formatCommand`` (465)."""
    bot_id = await rest.bot(extranet=False)
    answer = await rest(
        "imbot.v2.Command.register",
        {"botId": bot_id, "fields": {"command": "other", "hidden": True}},
    )
    assert answer.result["command"]["extranetSupport"] is False
    assert answer.result["command"] == {
        "id": fake.command("helpbot", "other").id, "botId": bot_id, "command": "/other",
        "common": False, "hidden": True, "extranetSupport": False,
    }  # fmt: skip


async def test_register_again_returns_the_command_unchanged(fake: FakeBitrix24, rest: Rest) -> None:
    """The same ``(botId, command, APP_ID)`` returns the existing command without updating it
    (``Command::registerAction``, ``Command.php:63-74``; docs: "To update, use
    imbot.v2.Command.update")."""
    bot_id = await rest.bot(extranet=False)
    fields = {"command": "helpbot", "hidden": True, "extranetSupport": True}
    again = await rest("imbot.v2.Command.register", {"botId": bot_id, "fields": fields})
    assert again.result["command"]["extranetSupport"] is False
    assert fake.command("helpbot", "helpbot").extranet_support is False


async def test_command_update_repairs_the_flags(fake: FakeBitrix24, rest: Rest) -> None:
    """``Command::updateAction`` (``Command.php:200-343``) sets the flags it is given and answers
    the command as ``formatCommand`` does."""
    bot_id = await rest.bot(extranet=False)
    command_id = fake.command("helpbot", "helpbot").id
    fields = {"extranetSupport": True, "hidden": "Y"}
    answer = await rest(
        "imbot.v2.Command.update", {"botId": bot_id, "commandId": command_id, "fields": fields}
    )
    assert (answer.result["command"]["extranetSupport"], answer.result["command"]["hidden"]) == (
        True,
        True,
    )
    assert fake.command("helpbot", "helpbot").extranet_support is True


async def test_command_update_errors(fake: FakeBitrix24, rest: Rest) -> None:
    """``validateCommandOwnership`` → ``COMMAND_NOT_FOUND`` for another bot's command; a
    non-object title → ``COMMAND_TITLE_INVALID``; a rename onto another command →
    ``COMMAND_ALREADY_EXISTS`` (``Command.php:200-343``, ``427-445``); all HTTP 400."""
    bot_id = await rest.bot()
    other_id = await rest.bot("otherbot")
    theirs = fake.command("otherbot", "helpbot").id
    mine = fake.command("helpbot", "helpbot").id
    await rest(
        "imbot.v2.Command.register", {"botId": bot_id, "fields": {"command": "x", "hidden": 1}}
    )
    cases = [
        ({"botId": bot_id, "commandId": theirs, "fields": {"hidden": True}}, "COMMAND_NOT_FOUND"),
        ({"botId": bot_id, "commandId": mine, "fields": {"title": "t"}}, "COMMAND_TITLE_INVALID"),
        (
            {"botId": bot_id, "commandId": mine, "fields": {"command": "x"}},
            "COMMAND_ALREADY_EXISTS",
        ),
    ]
    for params, code in cases:
        answer = await rest("imbot.v2.Command.update", params)
        assert (answer.status, answer.error) == (400, code)
    assert other_id != bot_id


async def test_fields_form_from_revision_33_flat_form_without_fields(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """A non-empty ``fields`` is the request, else the flat keys (``resolveRegisterFields``,
    ``Command.php:139-163``; change log BOT-BC-0330-1); a flat ``title`` must be an array
    (``?array $title`` bound by type: error ``100``, ``main/lib/engine/autowire/binder.php``)."""
    bot_id = await rest.bot()
    flat = {"botId": bot_id, "command": "flat", "hidden": "Y", "extranetSupport": "Y"}
    assert (await rest("imbot.v2.Command.register", flat)).result["command"]["extranetSupport"]
    wrong = {"botId": bot_id, "command": "titled", "title": "Справка"}
    answer = await rest("imbot.v2.Command.register", wrong)
    assert (answer.status, answer.error) == (400, "100")
    both = {**flat, "command": "ignored", "fields": {"command": "used", "hidden": True}}
    await rest("imbot.v2.Command.register", both)
    assert set(fake.bot("helpbot").commands) == {"helpbot", "flat", "used"}


async def test_revision_32_reads_only_the_flat_keys(http: aiohttp.ClientSession) -> None:
    """REST 32 (``8c347630``): ``registerAction(string $command, ?array $title, ?array $params,
    string $common, string $hidden, string $extranetSupport)``: a ``fields``-only call misses
    ``command`` and a JSON boolean is not a string (binder error ``100``); flat ``"Y"`` works."""
    async with FakeBitrix24(revision=32) as fake:
        rest = Rest(fake, http)
        register = {"code": "old", "type": "openline", "eventMode": "fetch"}
        answer = await rest(
            "imbot.v2.Bot.register", {"fields": register | {"properties": {"name": "Old"}}}
        )
        bot_id = answer.result["bot"]["id"]
        fields_only = {"botId": bot_id, "fields": {"command": "x", "hidden": True}}
        missing = await rest("imbot.v2.Command.register", fields_only)
        assert (missing.status, missing.error) == (400, "100")
        typed = await rest(
            "imbot.v2.Command.register", {"botId": bot_id, "command": "x", "hidden": True}
        )
        assert (typed.status, typed.error) == (400, "100")
        flat = {"botId": bot_id, "command": "x", "hidden": "Y", "extranetSupport": "Y"}
        created = (await rest("imbot.v2.Command.register", flat)).result["command"]
        assert (created["hidden"], created["extranetSupport"]) == (True, True)


async def test_a_visible_command_needs_a_title_object(fake: FakeBitrix24, rest: Rest) -> None:
    """``COMMAND_TITLE_REQUIRED`` for a visible command without titles; a string ``title`` in
    ``fields`` is iterated by ``foreach`` and yields none; language keys are lower-cased
    (``Command.php:76-114``)."""
    bot_id = await rest.bot()
    as_string = {"command": "help", "title": "Справка"}
    answer = await rest("imbot.v2.Command.register", {"botId": bot_id, "fields": as_string})
    assert (answer.status, answer.error) == (400, "COMMAND_TITLE_REQUIRED")
    hidden = {"command": "quiet", "title": "Справка", "hidden": True}
    assert (
        await rest("imbot.v2.Command.register", {"botId": bot_id, "fields": hidden})
    ).status == 200
    assert fake.command("helpbot", "quiet").titles == {}
    titled = {"command": "help", "title": {"RU": "Справка"}}
    await rest("imbot.v2.Command.register", {"botId": bot_id, "fields": titled})
    assert fake.command("helpbot", "help").titles == {"ru": "Справка"}


async def test_command_list_answers_flags_as_strings(fake: FakeBitrix24, rest: Rest) -> None:
    """``Command.list`` goes through ``Entity\\Command\\Command::toRestFormat``
    (``im/lib/V2/Entity/Command/Command.php:119-140``): ``common``/``extranet`` as ``"Y"``/``"N"``,
    no ``hidden`` — unlike its method page."""
    bot_id = await rest.bot()
    listed = (await rest("imbot.v2.Command.list", {"botId": bot_id})).result["commands"]
    assert [(c["command"], c["extranet"], "hidden" in c) for c in listed] == [
        ("/helpbot", "Y", False)
    ]


async def test_customers_see_no_bot_keyboard_on_any_connector(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``Connector::onMessageSend`` (``imopenlines/lib/connector.php:1450-1865``) forwards the
    widget copy without ``KEYBOARD`` (1527-1560) and external connectors text, files and
    attachments only (1703, 1813-1830): the customer sees the text, never the buttons."""
    bot_id = await rest.bot()
    for connector in ("livechat", "telegrambot", "whatsappbytwilio"):
        chat = await fake.open_line_chat(connector=connector)
        await rest.send(bot_id, chat.dialog_id, message="Выберите", keyboard=[HELPED])
        assert fake.customer_view(chat) == [("Выберите", [])]
        with pytest.raises(CustomerSeesNoButtons):
            await fake.press_button(chat, "helpbot")


async def test_a_customer_press_without_extranet_support_is_dropped(
    http: aiohttp.ClientSession,
) -> None:
    """With a widget that rendered keyboards: ``findCommands`` skips a command with
    ``EXTRANET_SUPPORT=N`` for an extranet author (``im/lib/command.php:660``); nothing matches,
    ``onCommandAdd`` returns false and no event is written, while ``im.message.command`` still
    answers true (``im_rest.php:3575-3608``)."""
    async with FakeBitrix24(customer_keyboards={"livechat"}) as fake:
        rest = Rest(fake, http)
        bot_id = await rest.bot(extranet=False)
        chat = await fake.open_line_chat()
        await rest.send(bot_id, chat.dialog_id, message="Выберите", keyboard=[HELPED])
        before = len(fake.pending_events("helpbot"))
        await fake.press_button(chat, "helpbot", "h:1")
        assert len(fake.pending_events("helpbot")) == before
        assert [d.why for d in fake.dropped_presses] == [
            f"/helpbot has extranetSupport=N and user {chat.customer.id} is extranet"
        ]


async def test_a_widget_press_arrives_from_the_widget_copy(http: aiohttp.ClientSession) -> None:
    """``ExecCommand`` re-points a LIVECHAT press at the LINES chat (``im_messenger.php:
    1637-1657``); ``EventPayload::commandAdd`` (``EventPayload.php:84-106``) then gives the pressed
    message (the widget copy, in the widget chat), the LINES chat and the presser."""
    async with FakeBitrix24(customer_keyboards={"livechat"}) as fake:
        rest = Rest(fake, http)
        bot_id = await rest.bot()
        chat = await fake.open_line_chat()
        sent = (await rest.send(bot_id, chat.dialog_id, message="?", keyboard=[HELPED])).result
        await fake.press_button(chat, "helpbot", "h:1")
        data = (await rest.events(bot_id))[-1]["data"]
        assert data["command"] == {
            "id": fake.command("helpbot", "helpbot").id, "command": "/helpbot",
            "params": "h:1", "context": "keyboard",
        }  # fmt: skip
        assert data["message"]["id"] != sent["id"]
        assert data["message"]["chatId"] == int(chat.entity_id.split("|")[2])
        assert (data["chat"]["id"], data["user"]["id"]) == (chat.id, chat.customer.id)


async def test_an_operator_press_reaches_the_bot(fake: FakeBitrix24, rest: Rest) -> None:
    """Operators see the keyboard in the LINES chat and are employees, so even an
    extranet-less command takes their press (``findCommands``, ``command.php:627-689``)."""
    bot_id = await rest.bot(extranet=False)
    chat = await fake.open_line_chat()
    operator = fake.add_operator()
    await fake.operator_joins(chat, operator)
    await rest.send(bot_id, chat.dialog_id, message="?", keyboard=[HELPED])
    await fake.press_button(chat, "helpbot", by=operator)
    event = (await rest.events(bot_id))[-1]
    assert (event["type"], event["data"]["user"]["id"]) == ("ONIMBOTV2COMMANDADD", operator.id)


async def test_each_press_is_its_own_event(http: aiohttp.ClientSession) -> None:
    """Every press writes a new event-log row (``EventLogger::logCommandAdd``,
    ``im/lib/V2/EventLog/EventLogger.php:80-96``): two presses of one button differ only in
    ``eventId``."""
    async with FakeBitrix24(customer_keyboards={"livechat"}) as fake:
        rest = Rest(fake, http)
        bot_id = await rest.bot()
        chat = await fake.open_line_chat()
        await rest.send(bot_id, chat.dialog_id, message="?", keyboard=[HELPED])
        for _ in range(2):
            await fake.press_button(chat, "helpbot", "h:1")
        first, second = (await rest.events(bot_id))[-2:]
        assert first["eventId"] != second["eventId"]
        assert first["data"] == second["data"]


async def test_a_typed_command_is_a_command_not_a_message(fake: FakeBitrix24, rest: Rest) -> None:
    """``BotService::runMessageCommand`` (``im/lib/V2/Bot/BotService.php:27-34``): a typed
    ``/command`` some command takes is ONIMBOTV2COMMANDADD (context ``textarea``) and no
    MESSAGEADD; one nobody takes arrives as an ordinary message."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    await fake.customer_sends(chat, "/helpbot h:2")
    await fake.customer_sends(chat, "/unknown x")
    events = (await rest.events(bot_id))[1:]
    assert types(events) == ["ONIMBOTV2COMMANDADD", "ONIMBOTV2MESSAGEADD"]
    assert (events[0]["data"]["command"]["params"], events[0]["data"]["command"]["context"]) == (
        "h:2",
        "textarea",
    )


async def test_send_fills_the_keyboard_bot_id_and_drops_invalid_buttons(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``imbot.v2.Chat.Message.send`` sets ``KEYBOARD.BOT_ID`` to the calling bot
    (``FieldsValidationService::checkKeyboard``, ``FieldsValidationService.php:264``);
    ``Keyboard::addButton`` drops a blank ``TEXT`` or a button of no known kind
    (``im/lib/bot/keyboard.php:60-190``); none left is ``PARAM_KEYBOARD_ERROR``."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    keyboard = {"BUTTONS": [HELPED, {"TEXT": " "}, {"TEXT": "?", "LINK": "ftp://x"}]}
    await rest.send(bot_id, chat.dialog_id, message="?", keyboard=keyboard)
    [button] = fake.bot_messages(chat)[-1].buttons
    assert (button["BOT_ID"], button["COMMAND"], button["BLOCK"]) == (bot_id, "helpbot", "N")
    bad = await rest.send(bot_id, chat.dialog_id, message="?", keyboard=[{"TEXT": ""}])
    assert (bad.status, bad.error) == (400, "PARAM_KEYBOARD_ERROR")


async def test_a_keyboard_of_60000_json_characters_is_refused(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``Keyboard::getJson`` is empty from 60,000 characters and ``Param\\Keyboard::isValid``
    then fails (``im/lib/bot/keyboard.php:246``, ``im/lib/V2/Message/Param/Keyboard.php:118``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    big = [{**HELPED, "COMMAND_PARAMS": f"{n}:" + "x" * 900} for n in range(70)]
    answer = await rest.send(bot_id, chat.dialog_id, message="?", keyboard=big)
    assert (answer.status, answer.error) == (400, "PARAM_KEYBOARD_ERROR")


async def test_update_with_a_keyboard_without_bot_id_drops_command_buttons(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``Message::setKeyboard`` fills ``BOT_ID`` only from a message bot id *if set*
    (``im/lib/V2/Message.php:517-539``); the method page warns a keyboard without it "may not be
    routed". Safe default: COMMAND buttons go; with ``BOT_ID`` they stay."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    sent = (await rest.send(bot_id, chat.dialog_id, message="?")).result["id"]
    update = {"botId": bot_id, "messageId": sent}
    bare = {**update, "fields": {"keyboard": {"BUTTONS": [HELPED]}}}
    answer = await rest("imbot.v2.Chat.Message.update", bare)
    assert (answer.status, answer.error) == (400, "PARAM_KEYBOARD_ERROR")
    named = {**update, "fields": {"keyboard": {"BOT_ID": bot_id, "BUTTONS": [HELPED]}}}
    assert (await rest("imbot.v2.Chat.Message.update", named)).result == {"result": True}
    assert fake.portal.messages[sent].buttons[0]["COMMAND"] == "helpbot"


async def test_skip_and_silent_connector_messages_never_reach_the_customer(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``skipConnector``/``silentConnector`` are accepted by ``send`` (``ALLOWED_FIELDS_SEND``,
    ``Chat/Message.php:29-39``, booleans normalised from REST 33, BOT-FIX-0402-2) and
    ``Connector::onMessageSend`` forwards neither (``connector.php:1470-1490``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    await rest.send(bot_id, chat.dialog_id, message="для клиента")
    await rest.send(bot_id, chat.dialog_id, message="только операторам", skipConnector=True)
    await rest.send(bot_id, chat.dialog_id, message="тихо", silentConnector="Y")
    assert [text for text, _ in fake.customer_view(chat)] == ["для клиента"]


async def test_json_booleans_in_send_are_ignored_before_revision_33(
    http: aiohttp.ClientSession,
) -> None:
    """Before REST 33 (BOT-FIX-0402-2) JSON ``true`` for ``system``/``skipConnector`` was not
    converted to ``Y`` and "could be ignored": only ``"Y"`` counts."""
    async with FakeBitrix24(revision=32) as fake:
        rest = Rest(fake, http)
        bot_id = await rest.bot()
        chat = await fake.open_line_chat()
        await rest.send(bot_id, chat.dialog_id, message="a", skipConnector=True)
        await rest.send(bot_id, chat.dialog_id, message="b", skipConnector="Y")
        assert [text for text, _ in fake.customer_view(chat)] == ["a"]
