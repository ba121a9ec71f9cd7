"""The help center's routes in the real web app (issue 15, point 1): contents, entry pages and
search as the chat reads questions; cached pages; and hostile requests, which get plain 404/405
pages that show nothing but the knowledge base."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from bot.app import build
from bot.settings import DatabaseSettings, RedisSettings
from handlers.settings import Settings
from handlers.web import create_web_app
from knowledge.base import KnowledgeBase
from knowledge.model import Decision, Entry

DEAL = Entry(
    id="helpdesk-articles--deal",
    title="Сделки: что это и как с ними работать",
    source="helpdesk_articles.md",
    url="https://helpdesk.bitrix24.ru/open/1/",
    breadcrumb=("CRM процессы",),
    path="CRM > Сделки > Создать",
    summary="Сделка — это продажа клиенту.",
    steps=("1. Откройте CRM.", "2–3. Нажмите «Создать»."),
    body="Сделка — это продажа клиенту от первого звонка до оплаты.\n1. Откройте CRM.\n"
    "2–3. Нажмите «Создать».\nГотово.",
)
GUIDE = "Как работать с Битрикс24"
TASKS = Entry(
    id="guide-2026--tasks",
    title="Управление задачами",
    source="guide_2026.txt",
    kind="section",
    breadcrumb=(GUIDE,),
    body="Задачи помогают команде работать вместе.",
)
DEADLINES = Entry(
    id="guide-2026--deadlines",
    title="Сроки и напоминания в задачах",
    source="guide_2026.txt",
    kind="section",
    breadcrumb=(GUIDE, TASKS.title),
    body="Дедлайны ставят на задачу, напоминания приходят за день.",
)
HOSTILE = Entry(
    id="refunds--kak-vernut-dengi",
    title="Как вернуть деньги <script>alert(1)</script>",
    source="billing/refunds.md",
    url="javascript:alert(1)",
    breadcrumb=("billing",),
    body='Напишите в поддержку. <img src=x onerror="alert(2)">',
)
ENTRIES = (DEAL, TASKS, DEADLINES, HOSTILE)
SECRET = "s3cret-redis-password"
XSS = '"><script>alert(1)</script>'


@pytest.fixture(scope="module")
def entries_kb() -> KnowledgeBase:
    """The base of ENTRIES, built once for the module: a base is read-only once built, and each
    test still gets an app, a database and page caches of its own (a build is ~0.2 s of CPU,
    most of this module's time when made for each of its 50 tests)."""
    return KnowledgeBase(ENTRIES)


@pytest.fixture
async def client(
    sqlite_db_url: str, tmp_path: Path, request: pytest.FixtureRequest, entries_kb: KnowledgeBase
) -> AsyncIterator[TestClient[Any, Any]]:
    kb = getattr(request, "param", None) or entries_kb
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        knowledge_dir=tmp_path / "company-articles",
        database=DatabaseSettings(url=sqlite_db_url),
        redis=RedisSettings(url=f"redis://:{SECRET}@127.0.0.1:1/0"),  # type: ignore[arg-type]
    )
    async with build(settings, kb=kb) as app:
        services = await app.services()
        web_app, channels = create_web_app(services, ())
        assert channels == ()  # the help center needs no chat channel
        async with TestClient(TestServer(web_app)) as http:
            yield http


async def _page(http: TestClient[Any, Any], path: str, query: str | None = None) -> str:
    params = {"q": query} if query is not None else None
    response = await http.get(URL(path, encoded=True), params=params, allow_redirects=False)
    assert response.status == 200, path
    assert response.content_type == "text/html" and response.charset == "utf-8"
    return await response.text()


async def test_the_contents_group_entries_as_their_documents_do(
    client: TestClient[Any, Any],
) -> None:
    html = await _page(client, "/kb/")
    helpdesk, guide, company = (
        html.index(f'id="{anchor}"') for anchor in ("helpdesk-articles", "guide-2026", "company")
    )
    assert helpdesk < guide < company
    assert "Статьи справки Битрикс24" in html and "<h3>CRM процессы</h3>" in html
    assert f">{GUIDE}<" in html
    assert f'<h3><a href="{TASKS.id}">{TASKS.title}</a></h3>' in html
    assert f'<li class="depth-0"><a href="{DEADLINES.id}">' in html
    assert "Статьи компании" in html and "<h3>billing</h3>" in html


async def test_an_entry_page_has_its_trail_text_steps_path_and_original(
    client: TestClient[Any, Any],
) -> None:
    html = await _page(client, f"/kb/{DEAL.id}")
    assert f"<h1>{DEAL.title}</h1>" in html
    assert '<a href="./#helpdesk-articles">Статьи справки Битрикс24</a>' in html
    assert "<span>CRM процессы</span>" in html
    assert "Сделка — это продажа клиенту." in html  # the summary
    assert "Где: CRM &gt; Сделки &gt; Создать" in html
    assert '<ol class="steps"><li>Откройте CRM.</li><li>Нажмите «Создать».</li></ol>' in html
    assert f'<a href="{DEAL.url}" rel="noopener noreferrer">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


async def test_a_chapter_lists_its_sections_and_a_section_links_back(
    client: TestClient[Any, Any],
) -> None:
    chapter = await _page(client, f"/kb/{TASKS.id}")
    assert "В этом разделе" in chapter and f'<a href="{DEADLINES.id}">' in chapter
    section = await _page(client, f"/kb/{DEADLINES.id}")
    assert f'<a href="{TASKS.id}">{TASKS.title}</a>' in section  # the trail
    assert f'<a href="./#guide-2026">{GUIDE}</a>' in section


@pytest.mark.parametrize(
    "query", ["cltkrb", "sdelki", "сдлеки", "rfr cjplfnm cltkre"]
)  # layout, translit, typo, layout
async def test_search_reads_a_question_as_the_chat_does(
    client: TestClient[Any, Any], query: str
) -> None:
    html = await _page(client, "/kb/search", query)
    assert "Лучший ответ" in html and f'<a href="{DEAL.id}">{DEAL.title}</a>' in html
    assert f'value="{query}"' in html


async def test_search_without_an_answer_says_so(client: TestClient[Any, Any]) -> None:
    assert "Ничего не нашлось" in await _page(client, "/kb/search", "погода в москве")
    assert "Ваш вопрос, например" in await _page(client, "/kb/search")


async def test_the_query_is_escaped_everywhere(client: TestClient[Any, Any]) -> None:
    html = await _page(client, "/kb/search", XSS)
    assert "<script" not in html
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "Поиск: &#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_entry_text_is_escaped_and_a_script_url_is_no_link(
    client: TestClient[Any, Any],
) -> None:
    for path in ("/kb/", f"/kb/{HOSTILE.id}"):
        html = await _page(client, path)
        assert "<script" not in html and "<img" not in html and "javascript:" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_an_over_long_query_is_cut_and_said_so(client: TestClient[Any, Any]) -> None:
    html = await _page(client, "/kb/search", "сделка " * 100)
    assert "Запрос сокращён до 200 символов." in html and 'maxlength="200"' in html
    assert f'value="{("сделка " * 28).strip()}"' in html  # cut at a word
    # A request line longer than aiohttp reads (8 KiB) never reaches the app: aiohttp's own 400.
    response = await client.get("/kb/search", params={"q": "q" * 9000})
    assert response.status == 400 and "Traceback" not in await response.text()


@pytest.mark.parametrize(
    "path",
    [
        "/kb/no-such-entry",
        "/kb/..%2F..%2Fetc%2Fpasswd",
        "/kb/%2e%2e/%2e%2e/etc/passwd",
        "/kb/static/..%2F..%2Fbot%2Fsettings.py",
        "/kb/a/b/c/d/e/f/g/h/i/j/k",
        "/kb/%00",
        "/kb/search/",
        "/kb/" + "x" * 3000,
    ],
)
async def test_unknown_and_traversal_paths_are_plain_404_pages(
    client: TestClient[Any, Any], path: str
) -> None:
    response = await client.get(URL(path, encoded=True))
    html = await response.text()
    assert response.status == 404 and response.headers["Cache-Control"] == "no-store"
    assert "Такой страницы нет" in html and "root:" not in html and "import" not in html
    _assert_no_leak(response, html)
    _assert_links_home(path, html)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/kb", "/kb/", "/kb/search?q=x", f"/kb/{DEAL.id}", "/kb/a/b"])
async def test_only_get_and_head_are_answered(
    client: TestClient[Any, Any], method: str, path: str
) -> None:
    response = await client.request(method, path, data=b"q=1")
    html = await response.text()
    assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"
    assert "Эти страницы можно только читать." in html
    _assert_links_home(path.split("?", 1)[0], html)


async def test_head_is_get_without_a_body(client: TestClient[Any, Any]) -> None:
    get = await client.get(f"/kb/{DEAL.id}")
    head = await client.head(f"/kb/{DEAL.id}")
    assert head.status == 200 and await head.read() == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


async def test_pages_are_cached_and_revalidated(client: TestClient[Any, Any]) -> None:
    for path, cache in (("/kb/", "max-age=300"), ("/kb/search?q=sdelki", "max-age=60")):
        first = await client.get(path)
        etag = first.headers["ETag"]
        assert cache in first.headers["Cache-Control"] and etag.startswith('"')
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status == 304 and await again.read() == b""
        assert again.headers["ETag"] == etag
        other = await client.get(path, headers={"If-None-Match": '"stale"'})
        assert other.status == 200


async def test_kb_without_a_slash_redirects_and_the_stylesheet_is_immutable(
    client: TestClient[Any, Any],
) -> None:
    bare = await client.get("/kb", allow_redirects=False)
    assert bare.status == 301 and bare.headers["Location"] == "kb/"
    html = await _page(client, "/kb/")
    href = html.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    sheet = await client.get(f"/kb/{href}")
    assert sheet.status == 200 and sheet.content_type == "text/css"
    assert "immutable" in sheet.headers["Cache-Control"] and "max-width" in await sheet.text()


async def test_no_page_leaks_settings_paths_or_server_details(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    paths = ["/kb/", "/kb/search?q=sdelki", "/kb/search?q=x", "/kb/nope", "/kb/a/b"]
    paths += [f"/kb/{e.id}" for e in ENTRIES]
    for path in paths:
        response = await client.get(path)
        body = await response.text()
        _assert_no_leak(response, body)
        for forbidden in (SECRET, str(tmp_path), "company-articles", "sqlite", "Traceback"):
            assert forbidden not in body, (path, forbidden)
        assert "script-src" not in response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


class CountingKnowledgeBase(KnowledgeBase):
    """Counts the decisions asked of it: a cached page asks none."""

    decided = 0

    def decide(
        self, text: str, *, lang: str | None = None, exclude: Collection[str] = ()
    ) -> Decision:
        type(self).decided += 1
        return super().decide(text, lang=lang, exclude=exclude)


@pytest.mark.parametrize("client", [CountingKnowledgeBase(ENTRIES)], indirect=True)
async def test_a_page_is_rendered_once_then_served_from_memory(
    client: TestClient[Any, Any],
) -> None:
    bodies = {await _page(client, "/kb/search", "sdelki") for _ in range(3)}
    bodies.add(await _page(client, "/kb/search", "  sdelki\t"))  # the same query, cleaned
    assert len(bodies) == 1 and CountingKnowledgeBase.decided == 1
    await _page(client, "/kb/search", "задачи")
    assert CountingKnowledgeBase.decided == 2


class FailingKnowledgeBase(KnowledgeBase):
    """Stands for a knowledge base that breaks while deciding (a bug, a bad reload)."""

    def decide(
        self, text: str, *, lang: str | None = None, exclude: Collection[str] = ()
    ) -> Decision:
        raise RuntimeError(f"broken at {Path(__file__)}")


@pytest.mark.parametrize("client", [FailingKnowledgeBase(ENTRIES)], indirect=True)
async def test_a_failing_page_is_a_plain_500_and_is_logged(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="handlers.helpcenter.routes"):
        response = await client.get("/kb/search?q=sdelki")
        html = await response.text()
    assert response.status == 500 and "Что-то пошло не так" in html
    assert "broken" not in html and "RuntimeError" not in html and __file__ not in html
    _assert_no_leak(response, html)
    assert any("help center page failed" in r.getMessage() for r in caplog.records)


def _assert_links_home(path: str, html: str) -> None:
    """The page's relative links lead back to the help center from wherever it was asked."""
    sheet = html.split('<link rel="stylesheet" href="', 1)[1].split("?", 1)[0]
    contents = html.split('<a class="home" href="', 1)[1].split('"', 1)[0]
    assert urljoin(path, sheet) == "/kb/static/style.css" and urljoin(path, contents) == "/kb/"


def _assert_no_leak(response: ClientResponse, body: str) -> None:
    assert response.headers["Server"] == "helpbot"
    for name, value in response.headers.items():
        assert "aiohttp" not in value.lower() and "python" not in value.lower(), name
    assert "Traceback" not in body and "aiohttp" not in body.lower()
