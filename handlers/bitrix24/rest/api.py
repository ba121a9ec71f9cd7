"""The Bitrix24Api seam (the REST client and test doubles satisfy it) and the batch result type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from handlers.bitrix24.rest.errors import Bitrix24Error

__all__ = ["BatchCall", "BatchResult", "Bitrix24Api"]

BatchCall = tuple[str, Mapping[str, Any] | None]
"""One batch command: the method name and its parameters."""


@dataclass(frozen=True)
class BatchResult:
    """What a ``batch`` returned, by command key; a key in neither map did not run (``halt``)."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Bitrix24Error] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    next: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def get(self, key: str) -> Any:
        """The command's result; raises its typed error, or KeyError if it never ran."""
        if key in self.errors:
            raise self.errors[key]
        return self.results[key]


class Bitrix24Api(Protocol):
    """Calls REST methods on one portal and returns ``result``; failures raise Bitrix24Error."""

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any: ...

    async def batch(self, calls: Mapping[str, BatchCall], *, halt: bool = False) -> BatchResult: ...
