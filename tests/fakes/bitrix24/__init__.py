"""A fake Bitrix24 portal on loopback that behaves as the platform's own sources say.

Settled from the public core of Bitrix24's ``im``, ``imbot``, ``imopenlines``, ``imconnector``
and ``rest`` modules (mirror ``yuliai/bitrix-modules`` at ``a3a2a579``, REST revision 33;
``8c347630`` for revision 32) and the docs ``bitrix24/b24restdocs`` (change log up to revision
36). Each module cites the file and function behind each rule; ``tests/integration/
test_fake_bitrix24*.py`` pins every rule over HTTP, one test each.

Faithful: ``/rest/<user>/<secret>/<method>[.json]`` (wrong secret → 401 ``NO_AUTH_FOUND``) and
``/rest/<method>`` with ``auth`` (missing → 401 ``NO_AUTH_FOUND``, unknown → 401 ``invalid_token``,
expired → 401 ``expired_token``); method names in any case; query, JSON and PHP bracket-form
bodies; the ``result``/``time`` and ``error``/``error_description`` envelopes (no ``time`` on
errors); controller errors as HTTP 400; the leaky bucket (burst 50, 2/s, a batch counting once) →
503 ``QUERY_LIMIT_EXCEEDED``; ``OPERATION_TIME_LIMIT`` blocking one method for a period; the
OAuth server (``oauth.py``: rotating refresh tokens, its documented refusals, its own outage);
``batch``; imbot.v2 bots, commands (flags, flat and
``fields`` forms, idempotent register, update), events (``nextOffset`` or the legacy
``lastEventId``, 24 h expiry), ``Revision.get`` from revision 33; messages with uuid windows and
keyboards as the core filters them; open-line chats on any connector with a session owner that
moves as the line moves it; presses routed (or dropped) as ``findCommands`` does; webhook-mode
POSTs with the source's ``application_token``.

Open questions, resolved here (the safe side where the sources cannot settle them; how to check
each on a live portal is in ``docs/bitrix24-live-checks.md``):

* Customers see no bot keyboard on any connector (``customer_keyboards`` emulates a client that
  renders them; presses then meet the extranet gate).
* ``application_token``: the app's install token for an OAuth app's bots, ``"custom" + botToken``
  for a webhook-registered bot, which gets no ``data[bot][auth]``; such a bot's events are only
  POSTed when its handler URL carries ``CLIENT_ID=<botToken>`` (``require_client_id_in_url``).
* HTTP statuses as the source gives them: 400 for every imbot.v2 error, 401 for
  ``insufficient_scope`` and ``OVERLOAD_LIMIT``, 403 for ``PORTAL_DELETED``; 503 for the throttle
  (the docs; the v2 overview's 429 is left to ``OPERATION_TIME_LIMIT``).
* A portal whose plan has no REST (``lapse_plan``): every call of an authorized caller answers
  401 ``ACCESS_DENIED`` with the docs' text ("REST is available only on commercial plans", "…
  only by subscription" for a webhook; ``_includes/system-errors.md``; taken from the docs, not from
  core source), events still pushed.
* ``lastEventId`` on an empty page: ``offset - 1`` (0 without an offset).
* ``Chat.Message.update`` with a keyboard without ``BOT_ID``: COMMAND buttons dropped.
* ``WELCOME_BOT_LEFT``: ``queue`` by default (``configure_line(bot_left="close")`` keeps the bot
  in); ``WELCOME_BOT_JOIN`` is ``always``.

Simplified: one portal; plain http (the real portal insists on https); the time limiter is driven
by the tests (``block_method``, ``strain_method``), not by measured execution time; only the
methods the bot uses and their neighbours; ``ONIMBOTV2DELETE`` and message/reaction update and
delete events are not produced; the connector services (closed source) are not modelled beyond
what ``Connector::onMessageSend`` forwards.
"""

from .access import Caller
from .drivers import CONNECTORS, CustomerSeesNoButtons
from .entities import (
    CallRecord,
    Delivery,
    DroppedPress,
    FakeApiError,
    FakeBot,
    FakeChat,
    FakeCommand,
    FakeMessage,
    FakeUser,
    Transfer,
)
from .server import FakeBitrix24

__all__ = [
    "CONNECTORS",
    "CallRecord",
    "Caller",
    "CustomerSeesNoButtons",
    "Delivery",
    "DroppedPress",
    "FakeApiError",
    "FakeBitrix24",
    "FakeBot",
    "FakeChat",
    "FakeCommand",
    "FakeMessage",
    "FakeUser",
    "Transfer",
]
