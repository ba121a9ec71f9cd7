"""Operations on the real app (Telegram webhook against FakeTelegram): /healthz, /readyz, /metrics
and JSON logs that carry the ids and never a token.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from deadline import until
from fakes.telegram_server import SECRET_HEADER, FakeTelegram, FakeUser
from serving import WEBHOOK_PATH, loopback, serving, telegram_settings

from bot import health, logs
from bot.services import Services
from bot.settings import DatabaseSettings, RedisSettings
from bot.storage.db import create_engine
from handlers.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.model import Entry

SECRET = "ops-secret_0123456789"
QUESTION = "Как добавить сделку в CRM"
KB = KnowledgeBase(
    (Entry(id="crm--deal", title=QUESTION, source="crm.md", summary="Откройте CRM, «Добавить»."),)
)


@dataclass
class App:
    fake: FakeTelegram
    services: Services
    url: str

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.url + path) as response:
            return response.status, await response.text()

    async def metric(self, line_start: str) -> float:
        _, text = await self.get("/metrics")
        found = [ln for ln in text.splitlines() if ln.startswith(line_start + " ")]
        return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


@asynccontextmanager
async def running(db_url: str, redis_url: str | None = None) -> AsyncIterator[App]:
    async with FakeTelegram(local_mode=True) as fake:  # webhook over loopback http
        sock, url = loopback()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database=DatabaseSettings(url=db_url),
            redis=RedisSettings(url=redis_url),  # type: ignore[arg-type]
            telegram=telegram_settings(fake, url, SECRET, chat_per_second=100.0),
        )
        async with serving(settings, sock, kb=KB) as app:
            yield App(fake, app.services, url)


async def _answered(app: App, user: FakeUser) -> None:
    app.fake.user_sends(user, QUESTION)
    await app.fake.wait_for_message(user, lambda m: "CRM" in (m.text or ""))


async def test_health_readiness_and_metrics(sqlite_db_url: str) -> None:
    async with running(sqlite_db_url) as app:
        assert await app.get("/healthz") == (200, '{"ok": true}')
        status, body = await app.get("/readyz")
        assert status == 200 and json.loads(body) == {
            "ok": True,
            "failed": {},
            "degraded": {},
            "channels": ["telegram"],
            "knowledge": app.services.knowledge.version.as_dict(),
        }
        assert len(json.loads(body)["knowledge"]["hash"]) == 12
        await _answered(app, app.fake.add_user("Ann"))
        assert await app.metric('helpbot_messages_in_total{channel="telegram"}') == 1
        assert await app.metric('helpbot_decisions_total{kind="answer"}') == 1
        assert await app.metric("helpbot_match_seconds_count") == 1
        assert await app.metric('helpbot_match_seconds_bucket{le="+Inf"}') == 1
        await app.fake.wait_for(lambda: app.fake.calls("sendMessage"))
        # The outbox counts a send once its row is marked done, a moment after the call.
        sent = 'helpbot_messages_out_total{channel="telegram"}'
        await until(lambda: app.metric(sent), "a send counted", 5, wake=app.fake.changed)
        assert await app.metric(sent) >= 1
        assert await app.metric("helpbot_queue_waiting_tickets") == 0
        _, text = await app.get("/metrics")
        assert "# TYPE helpbot_match_seconds histogram" in text
        assert app.fake.token not in text and QUESTION not in text


async def test_a_killed_worker_is_not_ready_until_the_restart_policy_brings_it_back(
    sqlite_db_url: str,
) -> None:
    async with running(sqlite_db_url) as app:
        workers = app.services.workers
        assert {"telegram inbox", "telegram outbox", "knowledge follow"} <= set(workers.names())
        assert (await app.get("/readyz"))[0] == 200
        first = workers.running("telegram inbox")
        assert first is not None
        first.cancel()  # the fault: the task dies as if killed

        async def failed() -> dict[str, str]:
            status, body = await app.get("/readyz")
            return dict(json.loads(body)["failed"]) if status == 503 else {}

        await until(failed, "/readyz says 503")
        assert await failed() == {"telegram inbox": "cancelled"}
        await until(lambda: workers.running("telegram inbox"), "the inbox restarted", 10)
        assert workers.running("telegram inbox") is not first
        assert (await app.get("/readyz"))[0] == 200
        await _answered(app, app.fake.add_user("Ann"))  # the new inbox takes updates again


async def test_an_unreachable_redis_is_named_degraded_and_leaves_the_app_ready(
    sqlite_db_url: str,
) -> None:
    """Redis is off the path of an update (its shared send limits fall back to the process's
    own): a load balancer that drains on 503 must not hold the webhooks for its outage."""
    async with running(sqlite_db_url, redis_url="redis://127.0.0.1:1/0") as app:
        status, body = await app.get("/readyz")
        answer = json.loads(body)
        assert status == 200 and answer["ok"] is True and answer["failed"] == {}, body
        assert list(answer["degraded"]) == ["redis"], body
        assert answer["degraded"]["redis"].startswith("down (limits local): "), body
        assert await app.get("/healthz") == (200, '{"ok": true}')


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs TEST_REDIS_URL")
async def test_readiness_with_a_live_redis(sqlite_db_url: str) -> None:
    async with running(sqlite_db_url, redis_url=os.environ["TEST_REDIS_URL"]) as app:
        status, body = await app.get("/readyz")
        assert status == 200 and json.loads(body)["degraded"] == {}, body


async def test_database_probe_reports_an_unreachable_server() -> None:
    db = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert await health.database_problem(db, within=5.0) is not None
    finally:
        await db.dispose()


async def test_json_logs_carry_ids_and_never_a_token(sqlite_db_url: str) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    logs.configure("DEBUG", "json", stream)
    try:
        async with running(sqlite_db_url) as app:
            token = app.fake.token
            await _answered(app, app.fake.add_user("Ann"))
            logging.getLogger("handlers.ops_test").error("leaked %s conversation=7", token)
            async with aiohttp.ClientSession() as http:
                headers = {SECRET_HEADER: "wrong"}
                async with http.post(app.url + WEBHOOK_PATH, data=b"{}", headers=headers) as r:
                    assert r.status == 401
            errors = 'helpbot_errors_total{logger="handlers.ops_test"}'
            assert await app.metric(errors) == 1
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    output = stream.getvalue()
    lines: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert any(x.get("conversation") and x["logger"] == "bot.engine.core" for x in lines)
    assert any(x["message"] == "leaked *** conversation=7" for x in lines)
    for secret in (token, token.partition(":")[2], SECRET):
        assert secret not in output
    assert not re.search(r"\d+:[A-Za-z0-9_-]{30,}", output)
