"""The fake portal's limits: the request bucket, the per-method time limiter, fault statuses.

Sources: ``bitrix24/b24restdocs`` ``api-reference/limits.md`` (the bucket) and the core mirror
``yuliai/bitrix-modules`` at ``a3a2a579`` (the rest, cited as ``file:line``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .entities import iso

AuthKind = Literal["webhook", "oauth"]
OPERATING_LIMIT = 480.0  # seconds of execution per method per 10 min (the docs' cloud example)
DEFAULT_BLOCK = 60.0  # fail_next("OPERATION_TIME_LIMIT"): how long the method then stays blocked
# The status each injected error carries, from the source where it exists:
FAULT_STATUS = {
    # Docs limits.md: 503 (the public core has no such code; it is the front end's).
    "QUERY_LIMIT_EXCEEDED": (503, "Too many requests"),
    # CRestServer::processCall (rest/classes/general/rest.php:198-214).
    "OPERATION_TIME_LIMIT": (429, "Method is blocked due to operation time limit."),
    "INTERNAL_SERVER_ERROR": (500, "Internal server error"),
    "ERROR_UNEXPECTED_ANSWER": (500, "Server returned an unexpected response."),
    # An app on hold: OAuthException with no status (rest/lib/oauth/auth.php:88) -> 401.
    "OVERLOAD_LIMIT": (401, "REST API is blocked due to overload."),
    # rest/classes/general/rest.php:466.
    "PORTAL_DELETED": (403, "Portal was deleted"),
    # Classic server: OAuthException default (rest/lib/oauthexception.php) -> 401.
    "insufficient_scope": (401, "The request requires higher privileges than provided."),
    "expired_token": (401, "The access token provided has expired."),
    "NO_AUTH_FOUND": (401, "Wrong authorization data"),
}


class Bucket:
    """The portal's request limit (docs ``limits.md``): a leaky bucket, each request adds 1 and
    the level drains ``rate``/s (2/s, burst 50; Enterprise 5/s, 250); over ``burst``: 503
    ``QUERY_LIMIT_EXCEEDED``. A batch is one request. Real time, not the portal's clock."""

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


@dataclass
class _Strain:
    operating: float
    reset_at: float
    blocked: bool
    caller: AuthKind | None


class LoadLimiter:
    """``Rest\\Engine\\Access\\LoadLimiter`` (``rest/lib/engine/access/loadlimiter.php``): per
    auth type, app or webhook, and method. A blocked method answers 429 ``OPERATION_TIME_LIMIT``
    (with no ``time`` block, ``RestException::output``) until its oldest bucket drops out; other
    methods and callers go on. Successful answers carry ``time.operating`` and, while time is
    recorded, ``time.operating_reset_at`` (``CRestServer::appendDebugInfo``, ``rest.php:731-760``).
    ``active`` is the cloud (always on); on-prem it is off by default. The execution time itself
    is not accounted: tests strain or block a method explicitly."""

    def __init__(self, clock: Callable[[], float], active: bool = True) -> None:
        self._clock = clock
        self.active = active
        self._strains: dict[str, _Strain] = {}

    def strain(
        self, method: str, operating: float, reset_in: float, caller: AuthKind | None = None
    ) -> None:
        """Record ``operating`` seconds used by ``method`` until ``reset_in`` from now."""
        self._strains[method.lower()] = _Strain(operating, self._clock() + reset_in, False, caller)

    def block(
        self, method: str, seconds: float | None = None, caller: AuthKind | None = None
    ) -> None:
        """``method`` is over its limit for ``seconds`` (for one kind of caller, or all); None:
        until the reset its answers already announced (:meth:`strain`)."""
        strained = self._strains.get(method.lower())
        if seconds is not None:
            reset_at = self._clock() + seconds
        elif strained is not None:
            reset_at = strained.reset_at
        else:
            raise ValueError(f"{method} has no recorded time: give the seconds")
        self._strains[method.lower()] = _Strain(OPERATING_LIMIT, reset_at, True, caller)

    def _current(self, method: str, caller: AuthKind) -> _Strain | None:
        strain = self._strains.get(method.lower())
        if strain is None or strain.caller not in (None, caller):
            return None
        if self._clock() >= strain.reset_at:
            del self._strains[method.lower()]
            return None
        return strain

    def is_blocked(self, method: str, caller: AuthKind) -> bool:
        strain = self._current(method, caller)
        return self.active and method.lower() != "batch" and bool(strain and strain.blocked)

    def timing(self, started: float, method: str, caller: AuthKind | None) -> dict[str, Any]:
        finish = time.time()
        block: dict[str, Any] = {
            "start": started, "finish": finish, "duration": finish - started,
            "processing": finish - started, "date_start": iso(started), "date_finish": iso(finish),
        }  # fmt: skip
        if self.active:
            strain = self._current(method, caller) if caller else None
            if strain is not None:
                block["operating_reset_at"] = int(strain.reset_at)
            block["operating"] = strain.operating if strain else 0
        return block
