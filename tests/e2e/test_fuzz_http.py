"""Hostile input: hypothesis throws junk at the real app's HTTP endpoints on loopback.

The app (Telegram webhook against FakeTelegram, Bitrix24 events and OAuth install, SQLite in a
temporary folder) runs in a thread of its own; each example is one real HTTP request. Whatever
arrives: never a 5xx, the app keeps running, and a refused request stores nothing.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from deadline import until
from fakes.bitrix24.phpform import flatten
from fakes.telegram_server import SECRET_HEADER, FakeTelegram
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import WEBHOOK_PATH, loopback, serving, telegram_settings

from bot.settings import DatabaseSettings, WebSettings
from handlers.bitrix24.registration import EVENTS_PATH
from handlers.bitrix24.settings import BitrixSettings
from handlers.bitrix24.web import INSTALL_PATH
from handlers.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.model import Entry

SECRET = "fuzz-secret_0123456789"
APP_TOKEN = "fuzz-app-token-0123456789"
LIMIT = 64 * 1024  # WEB_MAX_BODY_BYTES for this app: huge bodies stay cheap to send
FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,  # no .hypothesis folder in the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Served:
    port: int
    db_path: Path

    def post(self, path: str, body: bytes | Iterable[bytes], headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            chunked = not isinstance(body, bytes)
            within_limit = isinstance(body, bytes) and len(body) <= LIMIT
            conn.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
            response = conn.getresponse()
            response.read()
            return response.status
        except (BrokenPipeError, ConnectionResetError):
            if within_limit:
                raise  # a body within the limit must get an answer, not a dropped connection
            return 413  # the app refused a huge body before reading all of it
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def stored(self) -> tuple[Any, ...]:
        """What the endpoints write: inbox rows and the OAuth tokens."""
        with sqlite3.connect(self.db_path) as db:
            inbox = db.execute("SELECT count(*), max(id) FROM inbox").fetchone()
            tokens = db.execute("SELECT * FROM bitrix_tokens ORDER BY member_id").fetchall()
        return inbox, tokens


def _settings(db_url: str, fake: FakeTelegram, url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database=DatabaseSettings(url=db_url),
        web=WebSettings(max_body_bytes=LIMIT),
        telegram=telegram_settings(fake, url, SECRET),
        bitrix=BitrixSettings(
            client_id="local.fuzz",
            client_secret="fuzz-client-secret",  # type: ignore[arg-type]
            event_mode="webhook",
            public_url=url,
            app_token=APP_TOKEN,  # type: ignore[arg-type]
            # A fuzzed install points the portal anywhere: a call there fails at once instead
            # of retrying (~6 s of backoff a call, which held the app's stop at the end).
            max_attempts=1,
        ),
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Served]:
    db_path = tmp_path_factory.mktemp("fuzz") / "helpbot.db"
    shutil.copyfile(sqlite_template, db_path)
    kb = KnowledgeBase((Entry(id="crm--deal", title="Как добавить сделку", source="crm.md"),))
    sock, url = loopback()
    started, failed = threading.Event(), []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with FakeTelegram(local_mode=True) as fake:  # webhook over loopback http
            settings = _settings(f"sqlite+aiosqlite:///{db_path}", fake, url)
            async with serving(settings, sock, kb=kb):
                started.set()
                await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:
            failed.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="fuzzed-app", daemon=True)
    thread.start()
    assert started.wait(60) and not failed, failed  # start-up on a loaded machine
    yield Served(sock.getsockname()[1], db_path)
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    assert not failed, failed


# Strategies: JSON of every shape, forms with PHP-style brackets, junk bytes and headers.

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=15,
)
_update = st.fixed_dictionaries(
    {"update_id": _scalars},
    optional={"message": _json, "callback_query": _json, "edited_message": _json},
)
_header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40).filter(
    lambda s: "\x7f" not in s
)
_content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=koi8-r",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "text/plain",
        "application/octet-stream",
        "",
    ]
)
_junk_body = (
    st.binary(max_size=600)
    | st.text(max_size=300).map(str.encode)
    | _json.map(lambda v: json.dumps(v).encode())
    | st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
    | st.just(b"--xyz\r\nContent-Disposition: form-data\r\n\r\n\xff\xfe--")
    | st.binary(max_size=40).map(lambda b: b"--xyz\r\n" + b + b"\r\n\r\n--xyz--")  # headers
)
_keys = st.sampled_from(
    ["event", "data[chat][id]", "data[message][text]", "data[user][id]", "auth[member_id]"]
) | st.text(max_size=20)
_values = st.text(max_size=40) | st.integers().map(str)


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode()


@st.composite
def _event_form(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(_keys, _values), max_size=12))
    if draw(st.booleans()):
        pairs.append(("event", draw(st.sampled_from(["ONIMBOTV2MESSAGEADD", "ONIMBOTV2JOINCHAT"]))))
    token = draw(st.sampled_from([APP_TOKEN, ""]) | st.text(max_size=30))
    pairs.append(("auth[application_token]", token))
    return _form(pairs)


@st.composite
def _install_form(draw: st.DrawFn) -> bytes:
    auth = {
        "access_token": draw(_values),
        "refresh_token": draw(_values),
        "client_endpoint": draw(
            st.sampled_from(["http://127.0.0.1:9/rest/", "ftp://x", ""]) | st.text(max_size=300)
        ),
        "member_id": draw(st.text(max_size=100)),
        "expires": draw(st.text(max_size=20) | st.integers().map(str)),
        "application_token": draw(st.sampled_from([APP_TOKEN, "wrong"]) | st.text(max_size=30)),
    }
    pairs = [(f"auth[{k}]", v) for k, v in auth.items() if draw(st.booleans()) or k == "expires"]
    pairs += draw(st.lists(st.tuples(_keys, _values), max_size=5))
    return _form(pairs) if draw(st.booleans()) else urlencode(pairs).encode()


def _check(served: Served, path: str, body: bytes, headers: dict[str, str]) -> int:
    before = served.stored()
    status = served.post(path, body, headers)
    assert status < 500, (path, status, body[:200])
    if status != 200:
        assert served.stored() == before, f"a refused request ({status}) stored something"
    return status


@FUZZ
@given(
    body=_update.map(lambda v: json.dumps(v).encode()) | _junk_body,
    secret=st.sampled_from([SECRET, ""]) | _header_text,
    content_type=_content_types,
)
def test_telegram_webhook_survives_junk(
    served: Served, body: bytes, secret: str, content_type: str
) -> None:
    status = _check(
        served, WEBHOOK_PATH, body, {SECRET_HEADER: secret, "Content-Type": content_type}
    )
    if secret != SECRET:
        assert status == 401


@FUZZ
@given(
    body=_event_form() | _junk_body,
    content_type=_content_types,
)
def test_bitrix_events_survive_junk(served: Served, body: bytes, content_type: str) -> None:
    status = _check(served, EVENTS_PATH, body, {"Content-Type": content_type})
    if APP_TOKEN.encode() not in body:
        assert status in (400, 401, 413)


@FUZZ
@given(body=_install_form() | _junk_body, content_type=_content_types)
def test_bitrix_install_survives_junk(served: Served, body: bytes, content_type: str) -> None:
    status = _check(served, INSTALL_PATH, body, {"Content-Type": content_type})
    if APP_TOKEN.encode() not in body:
        assert status in (400, 401, 413)


# Envelope shapes: a real update with one to three of its fields broken or removed. Each is
# refused (400) or stored, and every stored update is then processed without failing.

_PERSON = {"id": 5, "is_bot": False, "first_name": "Ann"}
_MESSAGE = {
    "message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}, "from": _PERSON,
    "text": "как добавить сделку",
}  # fmt: skip
_SHAPES = (
    {"message": _MESSAGE},
    {"edited_message": _MESSAGE},
    {"callback_query": {"id": "q1", "from": _PERSON, "chat_instance": "c", "data": "fb:ok:1",
                        "message": _MESSAGE}},
    {"my_chat_member": {"chat": _MESSAGE["chat"], "from": _PERSON, "date": 0,
                        "old_chat_member": {"status": "member", "user": _PERSON},
                        "new_chat_member": {"status": "kicked", "user": _PERSON, "until_date": 0}}},
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))


@st.composite
def _shaped_update(draw: st.DrawFn) -> dict[str, Any]:
    update: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(_SHAPES))))
    update["update_id"] = draw(st.integers(min_value=10**6, max_value=2**40))
    _break(draw, update)
    return update


def _break(draw: st.DrawFn, shape: dict[str, Any]) -> None:
    """Remove one to three fields of ``shape`` (at any depth) or give them any JSON value."""
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(_paths(shape))
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        node = shape
        for key in parents:
            node = node[key]
        if draw(st.booleans()):
            del node[last]
        else:
            node[last] = draw(_json)


@FUZZ
@given(update=_shaped_update())
def test_a_malformed_update_is_refused_at_the_door(served: Served, update: dict[str, Any]) -> None:
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    status = _check(served, WEBHOOK_PATH, json.dumps(update).encode(), headers)
    assert status in (200, 400)


def test_valid_requests_are_still_accepted_and_the_app_is_ready(served: Served) -> None:
    update = {
        "update_id": 987654,
        "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}},
    }
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    assert served.post(WEBHOOK_PATH, json.dumps(update).encode(), headers) == 200
    form = {"auth[access_token]": "a", "auth[refresh_token]": "r", "auth[member_id]": "m1"}
    form |= {"auth[client_endpoint]": "http://127.0.0.1:9/rest/"}
    form |= {"auth[application_token]": APP_TOKEN}
    assert (
        served.post(
            INSTALL_PATH,
            urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        == 200
    )
    assert served.get("/healthz")[0] == 200
    status, body = served.get("/readyz")
    assert status == 200, body


# The same for Bitrix24's webhook-mode events: a real event as the portal posts it (PHP's
# http_build_query of {event, data, ts, auth}) with one to three fields of its data broken or
# removed; the application token stays right, so the event's own shape is what is judged.

_B24_CHAT = {
    "id": 7,
    "dialogId": "chat7",
    "entityType": "LINES",
    "entityId": "livechat|1|1007|55",
    "entityData1": "N|NONE|0|N|N|42|1700000000|0|0|0",
    "owner": 9,
}
_B24_CUSTOMER = {"id": 55, "name": "Ion", "connector": True, "bot": False}
_B24_MESSAGE = {"id": 300, "chatId": 7, "text": "как добавить сделку"}
_B24_IN_CHAT = {"bot": {"id": 9}, "chat": _B24_CHAT, "user": _B24_CUSTOMER}
_B24_PRESS = {"id": 1, "command": "/helpbot", "params": "fb:ok:1", "context": "keyboard"}
_B24_SHAPES = (
    {"event": "ONIMBOTV2MESSAGEADD", "data": {**_B24_IN_CHAT, "message": _B24_MESSAGE}},
    {"event": "ONIMBOTV2COMMANDADD",
     "data": {**_B24_IN_CHAT, "message": _B24_MESSAGE, "command": _B24_PRESS}},
    {"event": "ONIMBOTV2JOINCHAT", "data": {**_B24_IN_CHAT, "dialogId": "chat7", "language": "ru"}},
)  # fmt: skip


@st.composite
def _shaped_event(draw: st.DrawFn) -> bytes:
    event: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(_B24_SHAPES))))
    data = event["data"]
    if "message" in data:  # a new message each time, not a repeat the inbox drops
        data["message"]["id"] = draw(st.integers(min_value=10**6, max_value=2**31 - 1))
    _break(draw, data)
    event["ts"] = str(draw(st.integers(min_value=0, max_value=2**40)))
    event["auth"] = {"application_token": APP_TOKEN}
    return urlencode(flatten(event)).encode()


@FUZZ
@given(body=_shaped_event())
def test_a_malformed_bitrix24_event_is_refused_at_the_door(served: Served, body: bytes) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert _check(served, EVENTS_PATH, body, headers) in (200, 400)


_INTAKES = ("handlers.telegram.webhook", "handlers.bitrix24.web")  # the routes' loggers


def _refused_with_a_line(
    served: Served, caplog: pytest.LogCaptureFixture, path: str, body: bytes, content_type: str
) -> str:
    """POST ``body`` with the right secret/token: a 400 that stored nothing and logged one
    warning from the intake (the app runs in another thread; its records reach caplog's root
    handler all the same; its workers' lines about what the fuzzing stored are not counted).
    Returns that line."""
    headers = {SECRET_HEADER: SECRET, "Content-Type": content_type}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="handlers"):
        assert _check(served, path, body, headers) == 400
    lines = [r.getMessage() for r in caplog.records if r.name in _INTAKES]
    assert len(lines) == 1, lines
    assert SECRET not in lines[0] and APP_TOKEN not in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "update",
    [{"update_id": 2, "message": {"chat": None}}, {"update_id": 1, "message": 5}],
    ids=["chat-null-was-500", "message-5-was-stored-then-failed"],
)
def test_the_issues_malformed_updates_are_400_a_log_line_and_stored_nowhere(
    served: Served, caplog: pytest.LogCaptureFixture, update: dict[str, Any]
) -> None:
    body = json.dumps(update).encode()
    line = _refused_with_a_line(served, caplog, WEBHOOK_PATH, body, "application/json")
    assert line.startswith("malformed update refused")


_NO_MESSAGE_ID = _form(
    [
        ("event", "ONIMBOTV2MESSAGEADD"),
        ("data[bot][id]", "1"),
        ("data[chat][id]", "5"),
        ("data[message][text]", "hi"),
        ("auth[application_token]", APP_TOKEN),
    ]
)


_LONG_SESSION = _form(
    [
        ("event", "ONIMBOTV2MESSAGEADD"),
        ("data[bot][id]", "1"),
        ("data[chat][id]", "5"),
        ("data[chat][entityData1]", "N|NONE|0|N|N|" + "4" * 40),  # was stored, then failed
        ("data[message][id]", "8"),
        ("auth[application_token]", APP_TOKEN),
    ]
)


@pytest.mark.parametrize(
    ("path", "body", "content_type", "says"),
    [
        (WEBHOOK_PATH, b'{"update_id": 3, ', "application/json", "not JSON"),
        (WEBHOOK_PATH, b"[" * 20_000 + b"]" * 20_000, "application/json", "not JSON"),
        (
            EVENTS_PATH,
            _NO_MESSAGE_ID,
            "application/x-www-form-urlencoded",
            "without message id",
        ),
        (
            EVENTS_PATH,
            _LONG_SESSION,
            "application/x-www-form-urlencoded",
            "session id longer than",
        ),
        (EVENTS_PATH, b"--xyz\r\n\xff--", "multipart/form-data; boundary=xyz", "not a form"),
        (
            INSTALL_PATH,
            _form([("auth[application_token]", APP_TOKEN)]),
            "application/x-www-form-urlencoded",
            "no auth block",
        ),
    ],
    ids=[
        "cut-json",
        "nested-json",
        "bitrix-message-without-ids",
        "bitrix-session-id-too-long",
        "broken-multipart",
        "no-auth",
    ],
)
def test_every_refused_envelope_is_400_and_one_log_line(
    served: Served,
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: bytes,
    content_type: str,
    says: str,
) -> None:
    assert says in _refused_with_a_line(served, caplog, path, body, content_type)


@pytest.mark.parametrize("channel", ["telegram", "bitrix24"])
def test_every_stored_update_is_processed_without_failing(served: Served, channel: str) -> None:
    # Runs after the fuzzing above (file order): what was let in must not fail later.

    def rows() -> list[Any]:
        with sqlite3.connect(served.db_path) as db:
            query = "SELECT external_id, status, attempts, error FROM inbox WHERE channel=?"
            return db.execute(query, (channel,)).fetchall()

    def processed() -> bool:
        return all(status != "pending" for _, status, _, _ in rows())

    asyncio.run(until(processed, "every stored update processed", 60))
    assert rows()
    assert [row for row in rows() if row[1:3] != ("done", 0)] == []


@pytest.mark.parametrize("path", [WEBHOOK_PATH, EVENTS_PATH, INSTALL_PATH])
@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_413(served: Served, path: str, chunked: bool) -> None:
    huge = b"{" + b" " * LIMIT + b"}"
    body: bytes | Iterable[bytes] = (huge[i : i + 8192] for i in range(0, len(huge), 8192))
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    if path != WEBHOOK_PATH:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    before = served.stored()
    assert served.post(path, body if chunked else huge, headers) == 413
    assert served.stored() == before
