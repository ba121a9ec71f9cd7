"""Button payloads: short strings (≤ 64 bytes, Telegram callback data) naming a press."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_PAYLOAD_BYTES = 64
HERE = 0  # the ref a stored bot message's buttons give the message itself (ids start at 1), so
# the row is written whole by one INSERT before its id is known; see :func:`as_sent`


class Press(StrEnum):
    """What a button does; the prefix of its payload."""

    HELPED = "fb:ok"  # fb:ok:<message id>
    NOT_HELPED = "fb:no"  # fb:no:<message id>
    OPERATOR = "op"  # op:<message id>
    PICK = "pick"  # pick:<message id>:<choice index>
    RATE = "rate"  # rate:<ticket id>:<1..5>
    CANCEL = "cancel"  # cancel:<ticket id>


ON_TICKETS = (Press.RATE, Press.CANCEL)  # their ref is a ticket id; the others', a message id


@dataclass(frozen=True, slots=True)
class Payload:
    """A decoded press: ``ref`` is a bot message id (a ticket id for RATE/CANCEL)."""

    press: Press
    ref: int
    index: int = 0

    def encode(self) -> str:
        if self.press in (Press.PICK, Press.RATE):
            return f"{self.press}:{self.ref}:{self.index}"
        return f"{self.press}:{self.ref}"


_PATTERN = re.compile(r"^(fb:ok|fb:no|op|pick|rate|cancel):(\d{1,18})(?::(\d{1,3}))?$")


def decode(payload: str) -> Payload | None:
    """The press a payload names, or ``None`` for anything malformed or foreign."""
    found = _PATTERN.match(payload.strip())
    if found is None:
        return None
    press = Press(found[1])
    needs_index = press in (Press.PICK, Press.RATE)
    if needs_index != (found[3] is not None):
        return None
    return Payload(press, int(found[2]), int(found[3] or 0))


def as_sent(stored: str, message_id: int) -> str:
    """A payload stored with a bot message's buttons as the channel got it: :data:`HERE` is
    the message's own id (rows stored before there was ``HERE`` carry the id itself)."""
    payload = decode(stored)
    if payload is None or payload.press in ON_TICKETS or payload.ref != HERE:
        return stored
    return Payload(payload.press, message_id, payload.index).encode()
