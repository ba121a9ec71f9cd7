"""The fake portal's wire: envelopes, limits, fault injection, batch, auth; the OAuth server
(:mod:`.oauth`) mounted beside it.

Envelopes as ``CRestServer`` writes them (``rest/classes/general/rest.php`` of
``yuliai/bitrix-modules`` at ``a3a2a579``): success ``{"result", "time"}``, errors
``{"error", "error_description"}`` with **no** ``time`` (``RestException::output``,
``rest/lib/restexception.php:116-122``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .access import Caller
from .entities import CallRecord, FakeApiError, SendFault
from .limits import DEFAULT_BLOCK, FAULT_STATUS, AuthKind, Bucket, LoadLimiter
from .methods import find_method
from .oauth import DOWN_PAGE, OAuthServer, error_response
from .phpform import parse_pairs, parse_query
from .world import Deferred, Portal

MAX_BATCH = 50  # CRestUtil::BATCH_MAX_LENGTH
_NOT_IN_BATCH = frozenset({"batch", "download", "upload"})
_RESULT_REF = re.compile(r"\$result\[([^\[\]]+)\]((?:\[[^\[\]]*\])*)")


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string plus a JSON or form (PHP bracket keys) body, merged like ``$_REQUEST``; a
    body that is not JSON adds nothing."""
    params = parse_pairs(request.query.items())
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            params.update(parse_pairs((k, str(v)) for k, v in form.items()))
    return params


def fault_error(code: str) -> FakeApiError:
    status, text = FAULT_STATUS.get(code, (500, code))
    return FakeApiError(code, text, status)


@dataclass
class Fault:
    code: str
    status: int
    delay: float = 0.0
    done_first: bool = False  # the method runs, then the answer is held back for ``delay``


class Wire:
    """REST and OAuth routes over a :class:`Portal`; the FakeBitrix24 test driver builds on it."""

    def __init__(
        self,
        portal: Portal,
        *,
        webhook_user: int,
        webhook_secret: str,
        client_id: str,
        client_secret: str,
        burst: int,
        per_second: float,
        load_limiter: bool = True,
    ) -> None:
        self.portal = portal
        self.webhook_user = webhook_user
        self.webhook_secret = webhook_secret
        self.client_id = client_id
        self.client_secret = client_secret
        self.bucket = Bucket(burst, per_second)
        self.limiter = LoadLimiter(portal.now, load_limiter)
        self.calls: list[CallRecord] = []
        self.throttled = 0
        self._faults: list[Fault] = []
        self._down: set[str] | None = None  # an outage: these methods (lower case), or all
        self.lapsed = False  # REST off on the portal's plan: every call refused (lapse_plan)
        changed = lambda: self.portal_changed()  # noqa: E731 (the driver overrides it)
        self.oauth = OAuthServer(portal, client_id, client_secret, read_params, changed)
        self._closing = asyncio.Event()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", r"/rest/{user:\d+}/{secret}/{method}", self._on_webhook),
            web.route("*", "/rest/{method}", self._on_oauth),
            web.route("*", "/oauth/token/", self.oauth.on_token),
        ]

    # -- switches for tests ------------------------------------------------------------------

    def set_rate_limit(self, burst: int, per_second: float) -> None:
        """Tighten (or loosen) the portal's leaky bucket; the level starts empty."""
        self.bucket = Bucket(burst, per_second)

    def fail_next(self, code: str = "QUERY_LIMIT_EXCEEDED", times: int = 1) -> None:
        """The next ``times`` REST requests fail with ``code`` and its status from source.

        ``OPERATION_TIME_LIMIT`` is never a one-off on the portal: the next request's method is
        blocked for :data:`~.limits.DEFAULT_BLOCK` seconds instead (see :meth:`block_method`).
        """
        status = FAULT_STATUS.get(code, (500, ""))[0]
        self._faults.extend(Fault(code, status) for _ in range(times))

    def block_method(
        self, method: str, seconds: float | None = None, caller: AuthKind | None = None
    ) -> None:
        """``method`` answers 429 ``OPERATION_TIME_LIMIT`` for ``seconds`` of the portal's clock
        (None: until the ``operating_reset_at`` a :meth:`strain_method` announced), for one kind
        of caller or all; other methods are unaffected."""
        self.limiter.block(method, seconds, caller)

    def strain_method(self, method: str, operating: float, reset_in: float) -> None:
        """``method`` has used ``operating`` seconds; its answers report the reset time."""
        self.limiter.strain(method, operating, reset_in)

    def go_down(self, method: str | None = None) -> None:
        """An outage until :meth:`come_back`: every REST request (or one method's) gets the
        portal's front end's ``503 Service Temporarily Unavailable`` HTML page (nginx's own
        error page: no JSON envelope, nothing executed)."""
        self._down = set() if method is None else {*(self._down or ()), method.lower()}

    def come_back(self) -> None:
        """The outage is over."""
        self._down = None

    def lapse_plan(self) -> None:
        """The portal's plan no longer includes REST, until :meth:`renew_plan`: every call of an
        authorized caller answers 401 ``ACCESS_DENIED`` "REST is available only on commercial
        plans", a webhook's "REST is available only by subscription" (bitrix24/b24restdocs
        ``_includes/system-errors.md``: the REST server's own error, for any method)."""
        self.lapsed = True

    def renew_plan(self) -> None:
        """REST is on again (a plan that includes it was bought)."""
        self.lapsed = False

    def oauth_go_down(self, down: bool = True) -> None:
        """The OAuth server (another host than the portal) answers its 503 page until called
        again with ``down=False``; the portal's REST stays up."""
        self.oauth.down = down

    def lapse_app_payment(self, lapsed: bool = True) -> None:
        """The app's paid period ended: the OAuth server answers ``PAYMENT_REQUIRED`` instead
        of new tokens until called again with ``lapsed=False`` (``settings/oauth/error-codes.md``).
        """
        self.oauth.unpaid = lapsed

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` REST requests answer only after ``seconds`` (for client time-outs)."""
        self._faults.extend(Fault("", 200, seconds) for _ in range(times))

    def answer_late_next(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` REST requests take effect at once but answer after ``seconds``.

        A client that times out meanwhile cannot tell whether the call happened.
        """
        self._faults.extend(Fault("", 200, seconds, done_first=True) for _ in range(times))

    def fail_after_uuid_registered(
        self, times: int = 1, *, posted: bool = False, status: int = 400
    ) -> None:
        """The next ``times`` sends with a valid uuid register it, then fail: 400
        ``SENDING_FAILED`` (``CIMMessenger::Add`` returned false), or 500 when the request died
        after the uuid was written. The uuid then blocks resends for an hour. ``posted``: the
        message was stored but its id never written back, so the resend after the hour doubles
        it."""
        fault = SendFault("failed", status=status, posted=posted)
        self.portal.send_faults.extend(fault for _ in range(times))

    def hold_send_next(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` sends with a valid uuid register it and complete only after
        ``seconds``: meanwhile a resend gets ``MESSAGE_DUPLICATED_BY_UUID``."""
        self.portal.send_faults.extend(SendFault("in_flight", seconds) for _ in range(times))

    def issue_tokens(self) -> dict[str, Any]:
        """A fresh install-style ``auth`` block for the app (as ONAPPINSTALL would carry)."""
        return self.oauth.issue()

    def expire_access_tokens(self) -> None:
        """Every access token issued so far now answers 401 ``expired_token``."""
        self.oauth.expire_all()

    @property
    def refreshes(self) -> list[dict[str, str]]:
        """Every renewal asked of the OAuth server, its parameters."""
        return self.oauth.requests

    # -- REST --------------------------------------------------------------------------------

    async def _on_webhook(self, request: web.Request) -> web.StreamResponse:
        user, secret = int(request.match_info["user"]), request.match_info["secret"]
        valid = user == self.webhook_user and secrets.compare_digest(secret, self.webhook_secret)
        return await self._serve(request, Caller("webhook", user) if valid else None, "webhook")

    async def _on_oauth(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, None, "oauth")

    def _authorize(self, params: dict[str, Any]) -> Caller | tuple[str, str]:
        """OAuth: ``auth`` must be a live access token (``rest/lib/oauth/auth.php``)."""
        token = str(params.pop("auth", "") or "")
        state = self.oauth.state(token)
        if not token:
            return "NO_AUTH_FOUND", "Wrong authorization data"
        if state is None:
            return "invalid_token", "Unable to get application by token"
        if not state:
            return "expired_token", "The access token provided has expired"
        return Caller("oauth", 1, self.client_id)

    async def _serve(
        self, request: web.Request, caller: Caller | None, kind: str
    ) -> web.StreamResponse:
        started = time.time()
        method = re.sub(r"\.json$", "", request.match_info["method"])
        admitted = self.bucket.admit()  # on arrival, before the body is read
        params = await read_params(request)
        if not admitted:
            self.throttled += 1
            error = fault_error("QUERY_LIMIT_EXCEEDED")
            return self._fail(method, params, kind, error.code, error.description, error.status)
        if self._down is not None and (not self._down or method.lower() in self._down):
            self.calls.append(CallRecord(method, params, "none", 503, "HTTP_503"))
            self.portal_changed()
            return web.Response(status=503, content_type="text/html", text=DOWN_PAGE)
        late = 0.0
        if self._faults:
            fault = self._faults.pop(0)
            if fault.code == "OPERATION_TIME_LIMIT":
                self.limiter.block(method, DEFAULT_BLOCK)
            elif fault.done_first:
                late = fault.delay
            elif fault.delay:
                await self._pause(fault.delay)
            if fault.code and fault.code != "OPERATION_TIME_LIMIT":
                error = fault_error(fault.code)
                return self._fail(method, params, kind, error.code, error.description, error.status)
        if kind == "oauth":
            authorized = self._authorize(params)
            if isinstance(authorized, tuple):
                return self._fail(method, params, kind, *authorized, 401)
            caller = authorized
        if caller is None:
            return self._fail(
                method, params, kind, "NO_AUTH_FOUND", "Wrong authorization data", 401
            )
        if self.lapsed:
            only = "by subscription" if caller.auth == "webhook" else "on commercial plans"
            text = f"REST is available only {only}"
            return self._fail(method, params, kind, "ACCESS_DENIED", text, 401)
        if method.lower() == "batch":
            return self._batch(caller, params, started)
        try:
            result = self.invoke(caller, method, params)
        except Deferred as pending:
            await self._pause(pending.delay)
            result = pending.finish()
        except FakeApiError as exc:
            return self._fail(method, params, kind, exc.code, exc.description, exc.status)
        self.calls.append(CallRecord(method, params, caller.auth, 200))
        self.portal_changed()
        if late:
            await self._pause(late)
        timing = self.limiter.timing(started, method, caller.auth)
        return web.json_response({"result": result, "time": timing})

    def invoke(self, caller: Caller, method: str, params: dict[str, Any]) -> Any:
        """Run one method as ``CRestServer::processCall`` does (``rest.php:198-230``): the time
        limiter first (429), then the method by its lower-cased name (404 when the portal's
        revision lacks it)."""
        if self.limiter.is_blocked(method, caller.auth):
            raise fault_error("OPERATION_TIME_LIMIT")
        handler = find_method(method, self.portal.revision)
        if handler is None:
            raise FakeApiError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
        return handler(self.portal, caller, params)

    def _fail(
        self, method: str, params: dict[str, Any], kind: str, code: str, text: str, status: int
    ) -> web.Response:
        auth = kind if kind in ("webhook", "oauth") else "none"
        self.calls.append(CallRecord(method, params, auth, status, code))  # type: ignore[arg-type]
        self.portal_changed()
        return error_response(code, text, status)

    def _batch(self, caller: Caller, params: dict[str, Any], started: float) -> web.Response:
        """``CRestProvider::methodsBatch`` (``rest/classes/general/rest_provider.php:267-392``):
        keys in any case; ``CMD`` items must be strings (others are skipped); beyond 50 each
        command gets ``ERROR_BATCH_LENGTH_EXCEEDED``; batch/download/upload inside are
        ``ERROR_BATCH_METHOD_NOT_ALLOWED``; ``HALT`` is PHP truthiness (``"0"`` and ``""`` are
        false, ``"false"`` is true); the batch itself is not time-limited, its commands are."""
        upper = {str(k).upper(): v for k, v in params.items()}
        cmd = upper.get("CMD")
        commands: dict[str, Any] = cmd if isinstance(cmd, dict) else {}
        halt = upper.get("HALT") not in (None, "", "0", 0, False, [], {})
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for count, (key, line) in enumerate(commands.items()):
            if count >= MAX_BATCH:
                errors[key] = {
                    "error": "ERROR_BATCH_LENGTH_EXCEEDED",
                    "error_description": "Max batch length exceeded",
                }
            elif not isinstance(line, str):
                continue
            else:
                method, _, query = line.partition("?")
                sub_params = _substitute(parse_query(query), results)
                sub_started = time.time()
                try:
                    if method.lower() in _NOT_IN_BATCH:
                        raise FakeApiError(
                            "ERROR_BATCH_METHOD_NOT_ALLOWED",
                            "Method is not allowed for batch usage",
                        )
                    results[key] = self.invoke(caller, method, sub_params)
                    self.calls.append(CallRecord(method, sub_params, caller.auth, 200))
                except FakeApiError as exc:
                    errors[key] = {"error": exc.code, "error_description": exc.description}
                    self.calls.append(
                        CallRecord(method, sub_params, caller.auth, exc.status, exc.code)
                    )
                times[key] = self.limiter.timing(sub_started, method, caller.auth)
            if halt and key in errors:
                break
        self.calls.append(CallRecord("batch", params, caller.auth, 200))
        self.portal_changed()
        body: dict[str, Any] = {
            "result": results or [], "result_error": errors or [], "result_total": [],
            "result_next": [], "result_time": times or [],
        }  # fmt: skip
        timing = self.limiter.timing(started, "batch", caller.auth)
        return web.json_response({"result": body, "time": timing})

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def portal_changed(self) -> None:
        """Overridden by the driver to wake ``wait_for``."""


def _substitute(params: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """Replace ``$result[key][FIELD]`` references to earlier batch results."""

    def resolve(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            value: Any = results.get(match.group(1))
            for part in re.findall(r"\[([^\[\]]*)\]", match.group(2)):
                value = value.get(part) if isinstance(value, dict) else None
            return "" if value is None else str(value)

        return _RESULT_REF.sub(one, text)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return resolve(value) if isinstance(value, str) else value

    return {k: walk(v) for k, v in params.items()}
