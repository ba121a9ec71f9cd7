"""Failures and latency on demand: forced errors (scoped 429s, 5xx, HTML pages from the front
end), shaped successful results, and added delay per call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .limits import TRANSPORT_METHODS

ResultMode = Literal["unknown_tag", "not_json"]
# A MessageOrigin kind no aiogram knows: MessageOriginUnion is a discriminated union on `type`
# since aiogram 3.29.1 (types/message_origin_union.py, Field(discriminator="type")), so one such
# value makes aiogram reject the whole object (and a whole getUpdates batch, list[Update]).
FUTURE_ORIGIN_TYPE = "future_origin"


def future_origin(date: int) -> dict[str, Any]:
    return {"type": FUTURE_ORIGIN_TYPE, "date": date}


@dataclass
class Fault:
    """One injected failure rule; `remaining=None` keeps failing until cleared."""

    remaining: int | None
    status: int
    description: str
    retry_after: int | None
    method: str | None  # lower-cased; None means every method except the transport ones
    chat_id: int | str | None  # only calls to this chat (a 429 scoped to one destination)
    html: bool  # the front end's HTML page instead of the JSON envelope
    hold: float  # real seconds the answer is held first (TDLib's silent flood wait)

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method != method:
            return False
        if self.method is None and method in TRANSPORT_METHODS:
            return False
        return self.chat_id is None or self.chat_id == chat_id


class FaultInjector:
    """Deterministic failures for tests: the next N matching calls fail with a given status."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        count: int | None,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        method: str | None = None,
        chat_id: int | str | None = None,
        html: bool = False,
        hold: float = 0.0,
    ) -> None:
        lowered = method.lower() if method else None
        self._faults.append(
            Fault(count, status, description, retry_after, lowered, chat_id, html, hold)
        )

    def take(self, method: str, chat_id: int | str | None) -> Fault | None:
        lowered = method.lower()
        for fault in self._faults:
            if fault.matches(lowered, chat_id):
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()


@dataclass
class _Shape:
    method: str
    mode: ResultMode
    remaining: int


class ResultShaper:
    """Successful results made unreadable on purpose: the call *did* happen on the server."""

    def __init__(self) -> None:
        self._shapes: list[_Shape] = []

    def add(self, method: str, mode: ResultMode, count: int) -> None:
        self._shapes.append(_Shape(method.lower(), mode, count))

    def take(self, method: str) -> ResultMode | None:
        lowered = method.lower()
        for shape in self._shapes:
            if shape.remaining > 0 and shape.method == lowered:
                shape.remaining -= 1
                return shape.mode
        return None


def shape_body(result: Any, mode: ResultMode, date: int) -> bytes:
    """The body of a shaped success (status 200, `ok: true` as far as it goes).

    `unknown_tag`: the real result plus a `forward_origin` of a kind newer than aiogram, which
    aiogram's BaseSession.check_response cannot validate (ClientDecodeError with the dict).
    `not_json`: the body cut short (ClientDecodeError with the text).
    """
    if mode == "not_json":
        return b'{"ok":true,"result":{"message_id":'
    shaped = dict(result) if isinstance(result, dict) else {"value": result}
    shaped["forward_origin"] = future_origin(date)
    return json.dumps({"ok": True, "result": shaped}).encode()


@dataclass
class _Delay:
    method: str | None
    seconds: float
    remaining: int | None


class Delays:
    """Latency: `latency` s on every Bot API call, plus per-method delays for some calls."""

    def __init__(self, latency: float = 0.0) -> None:
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.latency = latency
        self._delays: list[_Delay] = []

    def add(self, method: str | None, seconds: float, count: int | None) -> None:
        self._delays.append(_Delay(method.lower() if method else None, seconds, count))

    def take(self, method: str) -> float:
        lowered = method.lower()
        total = self.latency
        for delay in self._delays:
            if delay.remaining is not None and delay.remaining <= 0:
                continue
            if delay.method is None or delay.method == lowered:
                if delay.remaining is not None:
                    delay.remaining -= 1
                total += delay.seconds
        return total
