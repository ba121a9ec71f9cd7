"""The update reader: each update parsed once on the usual path (at the door), and read again
from its JSON only when the door's reading is not in hand or dropped a field."""

from __future__ import annotations

import logging

import pytest

from handlers.telegram.envelope import EnvelopeError, UpdateReader
from handlers.telegram.polling import readable


def _text(update_id: int, **extra: object) -> dict[str, object]:
    message = {
        "message_id": 1,
        "date": 1700000000,
        "chat": {"id": 7, "type": "private", "first_name": "Ann"},
        "from": {"id": 7, "is_bot": False, "first_name": "Ann"},
        "text": "Как восстановить пароль",
    }
    return {"update_id": update_id, "message": message | extra}


def test_an_update_read_at_the_door_is_not_parsed_again() -> None:
    reader = UpdateReader(None)
    raw = reader.check(_text(1))
    first = reader.read(raw)
    assert first.message is not None and first.message.text == "Как восстановить пароль"
    again = reader.read(raw)  # a retry, or another replica's row: read from its JSON
    assert again is not first and again == first


def test_a_field_dropped_at_the_door_is_logged_when_the_update_is_processed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = UpdateReader(None)
    newer = {"type": "from_the_future", "date": 1700000000}  # a newer Bot API's origin
    raw = reader.check(_text(2, forward_origin=newer))
    assert "dropped" not in caplog.text
    with caplog.at_level(logging.WARNING):
        update = reader.read(raw)
    assert update.message is not None and update.message.forward_origin is None
    assert "update field unreadable, dropped update=2" in caplog.text


@pytest.mark.parametrize("raw", [{"update_id": -1}, {"update_id": 3, "message": {"chat": None}}])
def test_a_malformed_update_is_refused_at_the_door(raw: dict[str, object]) -> None:
    with pytest.raises(EnvelopeError):
        UpdateReader(None).check(raw)


def test_polling_leaves_a_malformed_update_behind_with_a_log_line_and_keeps_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The polling side of the door: the two bodies are not stored (the webhook answers
    # them 400); the next offset still passes them, so they are not fetched again.
    broken = [{"update_id": 2, "message": {"chat": None}}, {"update_id": 1, "message": 5}]
    with caplog.at_level(logging.WARNING, logger="handlers.telegram.polling"):
        kept = readable([broken[0], _text(3), broken[1]], UpdateReader(None))
    assert [raw["update_id"] for raw in kept] == [3]
    lines = [r.getMessage() for r in caplog.records if r.name == "handlers.telegram.polling"]
    assert [line.split(":")[0] for line in lines] == [
        "malformed update skipped update=2",
        "malformed update skipped update=1",
    ]
