"""FakeTelegram's switches for failures, limits, latency and time, mixed into it.

Each behaviour follows the platform: a 429 carries `retry_after` (SRV `Query.cpp`
`set_retry_after_error`) and names no scope (the scope here only chooses which calls fail);
5xx texts as SRV writes them (`Internal Server Error: restart` while restarting, SRV
`get_closing_error` l. 16294-16297) or the front end's JSON `502 Bad Gateway`
(tdlib/telegram-bot-api#868) or its HTML page (`html=True`); a revoked token is `401
Unauthorized` for every call (SRV `get_closing_error`, l. 16271-16292).
"""

from __future__ import annotations

from typing import Any

from .errors import unauthorized
from .faults import ResultMode, future_origin
from .limits import RateLimiter, RateLimits
from .models import FakeChat, FakeUser
from .state import World

_DEFAULT_5XX = {
    500: "Internal Server Error: restart",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Controls:
    """The switches of FakeTelegram."""

    _world: World

    # failures -------------------------------------------------------------------------------

    def force_429(
        self,
        n: int | None = 1,
        retry_after: int = 1,
        *,
        method: str | None = None,
        chat: FakeChat | FakeUser | int | None = None,
        hold: float = 0.0,
    ) -> None:
        """The next n calls (to `method`, or any non-polling method; to `chat` only, if given)
        get 429 retry_after. `hold`: real seconds the call is held first, as TDLib waits out
        flood waits up to 8 s for bots before it answers 429 (TD net/NetQueryCreator.cpp l. 66-75).
        n=None: every matching call until `clear_faults()`.
        """
        self._world.faults.add(
            n,
            429,
            f"Too Many Requests: retry after {retry_after}",
            retry_after=retry_after,
            method=method,
            chat_id=_chat_id(chat),
            hold=hold,
        )

    def force_error(
        self,
        n: int | None = 1,
        status: int = 502,
        *,
        method: str | None = None,
        description: str | None = None,
        html: bool = False,
        chat: FakeChat | FakeUser | int | None = None,
    ) -> None:
        """The next n matching calls fail with `status` (502 Bad Gateway by default).

        `html=True`: the front end's HTML error page (text/html), which aiogram cannot decode;
        n=None: an outage, until `clear_faults()`.
        """
        text = description or _DEFAULT_5XX.get(status, f"Error {status}")
        self._world.faults.add(n, status, text, method=method, chat_id=_chat_id(chat), html=html)

    def clear_faults(self) -> None:
        """End every forced failure (an outage is over)."""
        self._world.faults.clear()

    def next_result(self, method: str, mode: ResultMode, n: int = 1) -> None:
        """The next n successful calls of `method` happen, but their answer is unreadable:
        "unknown_tag" (a MessageOrigin kind newer than aiogram) or "not_json" (cut short)."""
        self._world.shaper.add(method, mode, n)

    def revoke_token(self) -> None:
        """The token is revoked (BotFather): every call, polling and file download get 401,
        a held getUpdates ends with it, and webhook deliveries stop."""
        world = self._world
        world.revoked = True
        world.delivery.suspended = True
        world.queue.fail_poll(unauthorized())

    def restore_token(self) -> None:
        """The token works again (as a new token would): calls and deliveries resume."""
        world = self._world
        world.revoked = False
        world.delivery.suspended = False
        world.signal.notify()

    # limits and time --------------------------------------------------------------------------

    def set_rate_limits(self, limits: RateLimits | None) -> None:
        """Switch Telegram-like flood control on (fresh buckets) or off (None)."""
        self._world.limiter = RateLimiter(limits) if limits else None

    def delay(self, method: str | None, seconds: float, n: int | None = None) -> None:
        """Add `seconds` to the next n calls of `method` (every method if None; n=None: all)."""
        self._world.delays.add(method, seconds, n)

    @property
    def latency(self) -> float:
        """Seconds added to every Bot API call."""
        return self._world.delays.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self._world.delays.latency = seconds

    def advance(self, seconds: float) -> None:
        """Move the server clock on: callback queries, updates, topic caches age at once."""
        self._world.clock.advance(seconds)
        self._world.signal.notify()

    def future_origin(self) -> dict[str, Any]:
        """A `forward_origin` of a kind newer than aiogram knows, for `user_sends(extra=...)`."""
        return future_origin(self._world.now())


def _chat_id(chat: FakeChat | FakeUser | int | None) -> int | None:
    if chat is None or isinstance(chat, int):
        return chat
    return chat.id
