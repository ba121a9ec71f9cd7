"""A fake Bitrix24 portal on loopback that behaves as the digest (../shared/reference) says.

Faithful: ``/rest/<user>/<secret>/<method>[.json]`` (wrong secret → 401 ``NO_AUTH_FOUND``) and
``/rest/<method>`` with ``auth`` (missing → 401 ``NO_AUTH_FOUND``, unknown → 401 ``invalid_token``,
expired → 401 ``expired_token``); query, JSON and PHP bracket-form bodies; the ``result``/``time``
and ``error``/``error_description`` envelopes; a per-portal leaky bucket (burst 50, 2/s; every
request, a batch counting once) → 503 ``QUERY_LIMIT_EXCEEDED``; ``/oauth/token/`` refresh with
rotating refresh tokens; ``batch`` (``cmd``, ``halt``, 50-command cap, ``$result[..]`` references,
``result_error``; empty maps as ``[]``); imbot.v2 bots owned by an app (OAuth) or a ``botToken``
(webhook, ``BOT_TOKEN_NOT_SPECIFIED`` without it), ``Bot.register`` idempotent by code,
``Event.get`` whose events stay until an ``offset`` passes them, form-encoded webhook-mode POSTs
(``data[bot][auth][...]`` plus the top-level ``auth[application_token]``, all scalars strings, no
retry), open-line chats with a connector customer, ``imopenlines.bot.session.*``.

Open questions of the digest (§11), resolved here:

* Throttle status: 503 ``QUERY_LIMIT_EXCEEDED`` (limits page, system-error table); 429 is used only
  for ``OPERATION_TIME_LIMIT``. The client treats both 503 and 429 as throttling.
* ``ERROR_METHOD_NOT_FOUND``: HTTP 404 (what cloud portals answer); clients must branch on the code.
* v2 ``botToken`` on ``Bot.register``: read from ``fields.botToken``, top level also accepted.
* v2 webhook body: form-encoded (``http_build_query``), never JSON.
* ``application_token`` of webhook-registered bots: one constant per fake portal
  (:attr:`FakeBitrix24.application_token`), in both the top-level and the bot ``auth``.
* Top-level ``auth`` of events triggered by a connector customer: no user tokens, only ``domain``,
  endpoints, ``member_id``, ``application_token``; bot tokens ride in ``data[bot][auth]``.
* ``WELCOME_BOT_LEFT``: ``queue`` by default, so after ``imopenlines.bot.session.operator`` the bot
  leaves the chat and hears nothing more of that session (``configure_line(bot_left="close")``
  keeps it in). ``WELCOME_BOT_JOIN`` is ``always``: each new session re-invites the welcome bot.
* ``transfer``/``finish`` over a webhook without ``CLIENT_ID`` → 403 ``ACCESS_DENIED`` ("Client ID
  not specified"), the v1 wording; ``operator`` and ``message.send`` need no ``CLIENT_ID``.

Simplified: one portal; plain http (the real portal insists on https); no ``OPERATION_TIME_LIMIT``
accounting (inject it with ``fail_next``); only the methods the bot uses; a keyboard COMMAND must be
registered (``imbot.v2.Command.register``) before ``press_button`` can fire it; text over 20,000
characters is cut with `` (...)``; ``ONIMBOTV2DELETE`` is not emitted; message/reaction update and
delete events are not produced.
"""

from .methods import Caller
from .server import FakeBitrix24
from .world import (
    CallRecord,
    Delivery,
    FakeApiError,
    FakeBot,
    FakeChat,
    FakeMessage,
    FakeUser,
    Transfer,
)

__all__ = [
    "CallRecord",
    "Caller",
    "Delivery",
    "FakeApiError",
    "FakeBitrix24",
    "FakeBot",
    "FakeChat",
    "FakeMessage",
    "FakeUser",
    "Transfer",
]
