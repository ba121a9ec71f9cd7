"""The help center's routes under /kb: the contents, one page per entry and search; GET and HEAD
only. Every response carries cache validators and strict security headers, and no error page
says more than "not found", "read only" or "something went wrong"."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.deeplinks import HELP_CENTER_PATH
from handlers.helpcenter.site import Page, Sites
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, holding

log = logging.getLogger(__name__)

HELPCENTER = web.AppKey("helpcenter", Sites)
PAGE_CACHE = "public, max-age=300"
SEARCH_CACHE = "public, max-age=60"
STATIC_CACHE = "public, max-age=31536000, immutable"  # its URL changes with its content
PROBLEM_CACHE = "no-store"
READ_METHODS = frozenset({"GET", "HEAD"})
SECURITY_HEADERS = {
    # No script anywhere; styles only from our own stylesheet; forms only to our own search.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Server": "helpbot",  # not aiohttp's name and version
}


def setup_helpcenter(
    app: web.Application, kb: KnowledgeBase | KnowledgeHolder, *, language: str = "ru"
) -> None:
    """Serve ``kb`` (the base in use, when a holder) as web pages under ``/kb/`` of ``app``, in
    ``language`` (ru, en or ro)."""
    center = web.Application(middlewares=[_guard])
    center[HELPCENTER] = Sites(holding(kb), language)
    center.router.add_route("*", "", _bare)
    center.router.add_get("/", _index)
    center.router.add_get("/search", _search)
    center.router.add_get("/static/style.css", _stylesheet)
    center.router.add_get("/{entry_id}", _entry)
    center.router.add_route("*", "/{tail:.*}", _other)
    app.add_subapp(HELP_CENTER_PATH, center)


async def _index(request: web.Request) -> web.Response:
    return _send(request, *request.app[HELPCENTER].current().index())


async def _entry(request: web.Request) -> web.Response:
    site = request.app[HELPCENTER].current()
    found = site.entry(request.match_info["entry_id"])
    if found is None:
        return _send(request, *site.problem(404), cache=PROBLEM_CACHE)
    return _send(request, *found)


async def _search(request: web.Request) -> web.Response:
    page = request.app[HELPCENTER].current().search(request.query.get("q", ""))
    return _send(request, *page, cache=SEARCH_CACHE)


async def _stylesheet(request: web.Request) -> web.Response:
    sheet = request.app[HELPCENTER].current().stylesheet
    return _send(request, sheet, sheet.etag, cache=STATIC_CACHE)


async def _bare(request: web.Request) -> web.Response:
    """``/kb`` itself: the contents live at ``/kb/``."""
    if request.method not in READ_METHODS:
        return _not_allowed(request)
    # Relative, so that it holds behind a proxy that serves the app under a path of its own.
    return web.Response(
        status=301, headers={"Location": _root(request), "Cache-Control": PAGE_CACHE}
    )


async def _other(request: web.Request) -> web.Response:
    """Any other path below ``/kb/`` (404), or a method other than GET and HEAD (405)."""
    if request.method not in READ_METHODS:
        return _not_allowed(request)
    return _send(
        request,
        *request.app[HELPCENTER].current().problem(404, _root(request)),
        cache=PROBLEM_CACHE,
    )


def _root(request: web.Request) -> str:
    """The relative way from the page asked back to /kb/, by the path as sent (an encoded slash
    is no folder): an error page's links must work wherever it was asked."""
    path = request.raw_path.split("?", 1)[0]
    if path == HELP_CENTER_PATH:
        return HELP_CENTER_PATH.rsplit("/", 1)[-1] + "/"
    return "../" * max(0, path.count("/") - HELP_CENTER_PATH.count("/") - 1)


def _not_allowed(request: web.Request) -> web.Response:
    page = request.app[HELPCENTER].current().problem(405, _root(request))
    response = _send(request, *page, cache=PROBLEM_CACHE)
    response.headers["Allow"] = "GET, HEAD"
    return response


def _send(request: web.Request, page: Page, etag: str, cache: str = PAGE_CACHE) -> web.Response:
    """The page, or 304 when the browser's copy (If-None-Match) is this one."""
    headers = {"Cache-Control": cache}
    if page.status == 200:
        headers["ETag"] = etag
        if _fresh(request.headers.get("If-None-Match", ""), etag):
            return web.Response(status=304, headers=headers)
    return web.Response(
        body=page.body,
        status=page.status,
        content_type=page.content_type,
        charset="utf-8",
        headers=headers,
    )


def _fresh(if_none_match: str, etag: str) -> bool:
    return any(tag.strip() in (etag, f"W/{etag}", "*") for tag in if_none_match.split(","))


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every response; an unexpected error is logged and answered with the
    plain 500 page, never with its details."""
    try:
        response = await handler(request)
    except web.HTTPException:
        raise  # none of ours; aiohttp's own answer
    except Exception:
        log.exception("help center page failed method=%s path=%.200s", request.method, request.path)
        page, etag = request.app[HELPCENTER].current().problem(500, _root(request))
        response = _send(request, page, etag, cache=PROBLEM_CACHE)
    response.headers.update(SECURITY_HEADERS)
    return response
