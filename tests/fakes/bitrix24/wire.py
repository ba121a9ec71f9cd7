"""The fake portal's wire: envelopes, the leaky bucket, fault injection, batch, the OAuth server."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .methods import METHODS, Caller
from .phpform import parse_pairs, parse_query
from .world import CallRecord, FakeApiError, Portal, iso

MAX_BATCH = 50
FAULT_STATUS = {
    "QUERY_LIMIT_EXCEEDED": (503, "Too many requests"),
    "OPERATION_TIME_LIMIT": (429, "Method is blocked due to operation time limit."),
    "INTERNAL_SERVER_ERROR": (500, "Internal server error"),
    "ERROR_UNEXPECTED_ANSWER": (500, "Server returned an unexpected response."),
    "OVERLOAD_LIMIT": (503, "REST API is blocked due to overload."),
    "PORTAL_DELETED": (500, "Portal was deleted"),
}
_RESULT_REF = re.compile(r"\$result\[([^\[\]]+)\]((?:\[[^\[\]]*\])*)")


class Bucket:
    """Bitrix24's limiter: a request adds 1, the level drains ``rate``/s; over ``burst``: 503."""

    def __init__(self, burst: int, rate: float) -> None:
        self.burst, self.rate = burst, rate
        self._level, self._at = 0.0, time.monotonic()

    def admit(self) -> bool:
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._at) * self.rate)
        self._at = now
        if self._level + 1 > self.burst:
            return False
        self._level += 1
        return True


def envelope(result: Any, started: float, **extra: Any) -> dict[str, Any]:
    finish = time.time()
    return {
        "result": result,
        **extra,
        "time": {
            "start": started, "finish": finish, "duration": finish - started,
            "processing": finish - started, "date_start": iso(started), "date_finish": iso(finish),
            "operating_reset_at": int(finish) + 600, "operating": 0,
        },
    }  # fmt: skip


def error_response(code: str, description: str, status: int) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string plus a JSON or form (PHP bracket keys) body, merged like ``$_REQUEST``."""
    pairs = list(request.query.items())
    params = parse_pairs(pairs)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            params.update(parse_pairs((k, str(v)) for k, v in form.items()))
    return params


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
    ) -> None:
        self.portal = portal
        self.webhook_user = webhook_user
        self.webhook_secret = webhook_secret
        self.client_id = client_id
        self.client_secret = client_secret
        self.bucket = Bucket(burst, per_second)
        self.calls: list[CallRecord] = []
        self.throttled = 0
        self.refreshes: list[dict[str, str]] = []
        self._faults: list[Fault] = []
        self._access: dict[str, bool] = {}  # access token -> still valid
        self._refresh: set[str] = set()
        self._closing = asyncio.Event()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", r"/rest/{user:\d+}/{secret}/{method}", self._on_webhook),
            web.route("*", "/rest/{method}", self._on_oauth),
            web.route("*", "/oauth/token/", self._on_token),
        ]

    # -- switches for tests ------------------------------------------------------------------

    def set_rate_limit(self, burst: int, per_second: float) -> None:
        """Tighten (or loosen) the portal's leaky bucket; the level starts empty."""
        self.bucket = Bucket(burst, per_second)

    def fail_next(self, code: str = "OPERATION_TIME_LIMIT", times: int = 1) -> None:
        """The next ``times`` REST requests fail with ``code`` and its documented status."""
        status = FAULT_STATUS.get(code, (500, ""))[0]
        self._faults.extend(Fault(code, status) for _ in range(times))

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` REST requests answer only after ``seconds`` (for client time-outs)."""
        self._faults.extend(Fault("", 200, seconds) for _ in range(times))

    def answer_late_next(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` REST requests take effect at once but answer after ``seconds``.

        A client that times out meanwhile cannot tell whether the call happened.
        """
        self._faults.extend(Fault("", 200, seconds, done_first=True) for _ in range(times))

    def issue_tokens(self) -> dict[str, Any]:
        """A fresh install-style ``auth`` block for the app (as ONAPPINSTALL would carry)."""
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self._access[access] = True
        self._refresh.add(refresh)
        now = int(time.time())
        return {
            "access_token": access, "refresh_token": refresh, "expires": now + 3600,
            "expires_in": 3600, "scope": "imbot,imopenlines,im", "domain": self.portal.domain,
            "server_endpoint": f"{self.portal.client_endpoint.removesuffix('/rest/')}/oauth/rest/",
            "client_endpoint": self.portal.client_endpoint, "member_id": self.portal.member_id,
            "status": "L", "user_id": 1, "application_token": self.portal.application_token,
        }  # fmt: skip

    def expire_access_tokens(self) -> None:
        """Every access token issued so far now answers 401 ``expired_token``."""
        self._access = dict.fromkeys(self._access, False)

    # -- REST --------------------------------------------------------------------------------

    async def _on_webhook(self, request: web.Request) -> web.StreamResponse:
        user, secret = int(request.match_info["user"]), request.match_info["secret"]
        valid = user == self.webhook_user and secrets.compare_digest(secret, self.webhook_secret)
        return await self._serve(request, Caller("webhook", user) if valid else None, "webhook")

    async def _on_oauth(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, None, "oauth")

    async def _serve(
        self, request: web.Request, caller: Caller | None, kind: str
    ) -> web.StreamResponse:
        started = time.time()
        method = re.sub(r"\.json$", "", request.match_info["method"])
        admitted = self.bucket.admit()  # on arrival, before the body is read
        params = await read_params(request)
        if not admitted:
            self.throttled += 1
            return self._fail(
                method, params, kind, "QUERY_LIMIT_EXCEEDED", "Too many requests", 503
            )
        late = 0.0
        if self._faults:
            fault = self._faults.pop(0)
            if fault.done_first:
                late = fault.delay
            elif fault.delay:
                await self._pause(fault.delay)
            if fault.code:
                text = FAULT_STATUS.get(fault.code, (0, fault.code))[1]
                return self._fail(method, params, kind, fault.code, text, fault.status)
        if kind == "oauth":
            token = str(params.pop("auth", "") or "")
            state = self._access.get(token)
            if not token:
                return self._fail(
                    method, params, kind, "NO_AUTH_FOUND", "Wrong authorization data", 401
                )
            if state is None:
                return self._fail(
                    method, params, kind, "invalid_token", "Unable to get application by token", 401
                )
            if not state:
                return self._fail(
                    method,
                    params,
                    kind,
                    "expired_token",
                    "The access token provided has expired",
                    401,
                )
            caller = Caller("oauth", 1, self.client_id)
        if caller is None:
            return self._fail(
                method, params, kind, "NO_AUTH_FOUND", "Wrong authorization data", 401
            )
        if method == "batch":
            return self._batch(caller, params, started)
        try:
            result = self.invoke(caller, method, params)
        except FakeApiError as exc:
            return self._fail(method, params, kind, exc.code, exc.description, exc.status)
        self.calls.append(CallRecord(method, params, caller.auth, 200))
        self.portal_changed()
        if late:
            await self._pause(late)
        return web.json_response(envelope(result, started))

    def invoke(self, caller: Caller, method: str, params: dict[str, Any]) -> Any:
        handler = METHODS.get(method)
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
        cmd = params.get("cmd")
        commands: dict[str, Any] = cmd if isinstance(cmd, dict) else {}
        if len(commands) > MAX_BATCH:
            return self._fail(
                "batch", params, caller.auth, "ERROR_BATCH_LENGTH_EXCEEDED",
                "Max batch length exceeded", 400,
            )  # fmt: skip
        halt = str(params.get("halt", "0")) in ("1", "true", "True", "Y")
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for key, line in commands.items():
            method, _, query = str(line).partition("?")
            sub_params = _substitute(parse_query(query), results)
            sub_started = time.time()
            try:
                if method == "batch":
                    raise FakeApiError(
                        "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"
                    )
                results[key] = self.invoke(caller, method, sub_params)
                self.calls.append(CallRecord(method, sub_params, caller.auth, 200))
            except FakeApiError as exc:
                errors[key] = {"error": exc.code, "error_description": exc.description}
                self.calls.append(CallRecord(method, sub_params, caller.auth, exc.status, exc.code))
            times[key] = envelope(None, sub_started)["time"]
            if halt and errors:
                break
        self.calls.append(CallRecord("batch", params, caller.auth, 200))
        self.portal_changed()
        body: dict[str, Any] = {
            "result": results or [], "result_error": errors or [], "result_total": [],
            "result_next": [], "result_time": times or [],
        }  # fmt: skip
        return web.json_response(envelope(body, started))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- OAuth server ------------------------------------------------------------------------

    async def _on_token(self, request: web.Request) -> web.Response:
        params = {k: str(v) for k, v in (await read_params(request)).items()}
        self.refreshes.append(params)
        self.portal_changed()
        if params.get("grant_type") != "refresh_token":
            return error_response("invalid_request", "Unsupported grant type", 400)
        if params.get("client_id") != self.client_id or not secrets.compare_digest(
            params.get("client_secret", ""), self.client_secret
        ):
            return error_response("invalid_client", "Invalid client credentials", 401)
        old = params.get("refresh_token", "")
        if old not in self._refresh:
            return error_response("invalid_grant", "Invalid refresh token", 400)
        self._refresh.discard(old)
        tokens = self.issue_tokens()
        tokens["domain"] = "oauth.bitrix.info"  # the OAuth server names itself, not the portal
        tokens.pop("application_token")
        return web.json_response(tokens)

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
