"""Bot API error envelopes: the ApiError a handler raises and the JSON the fake answers with."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed Bot API call; the HTTP status equals `code`, as on the real server."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        parameters: dict[str, int] = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(self.retry_after)}


def ok_envelope(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


def unauthorized() -> ApiError:
    """A revoked or unknown token: SRV `get_closing_error` (Client.cpp l. 16271-16292) and
    `ClientManager.cpp` answer a bare `Unauthorized`."""
    return ApiError(401, "Unauthorized")


def forbidden(text: str) -> ApiError:
    return ApiError(403, f"Forbidden: {text}")


def not_found(text: str | None = None) -> ApiError:
    return ApiError(404, "Not Found" if text is None else f"Not Found: {text}")


def conflict(text: str) -> ApiError:
    return ApiError(409, f"Conflict: {text}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def server_error(text: str) -> ApiError:
    """SRV prefixes a 500 with `Internal Server Error` (`fail_query_with_error`, l. 163-180)."""
    return ApiError(500, f"Internal Server Error: {text}")


# Texts of tdlib/telegram-bot-api (SRV) and TDLib (TD) as the Bot API user sees them: SRV's
# `fail_query_with_error` (Client.cpp l. 71-205) keeps an MTProto code's case (TOPIC_NOT_MODIFIED)
# and lower-cases the first letter of a TDLib text ("Message is too long" -> "message is ...").
CHAT_NOT_FOUND = "chat not found"
THREAD_NOT_FOUND = "message thread not found"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)

# Forum topics (TD ForumTopicManager.cpp; MTProto codes passed through by SRV, see topics.py).
TOPIC_NOT_MODIFIED = "TOPIC_NOT_MODIFIED"
TOPIC_ID_INVALID = "TOPIC_ID_INVALID"
TOPIC_DELETED = "TOPIC_DELETED"
TOPIC_CLOSED = "TOPIC_CLOSED"
NOT_A_FORUM = "the chat is not a forum"
# Sends refused for a reason other than 403 (TD MessagesManager::process_send_message_fail_error).
VOICE_FORBIDDEN = "VOICE_MESSAGES_FORBIDDEN"
PROTECTED_CONTENT = "message has protected content and can't be forwarded"
# Reactions: SRV `get_reaction_types` (l. 12086-12130), MTProto REACTION_INVALID passed through.
REACTION_INVALID = "REACTION_INVALID"
# getUpdates and setWebhook conflicts (SRV `abort_long_poll`, `process_get_updates_query`).
WEBHOOK_CONFLICT = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
OTHER_POLL_CONFLICT = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)
SET_WEBHOOK_CONFLICT = "terminated by setWebhook request"
# The front end's HTML error page (nginx), seen as api.telegram.org's 502 (nickoala/telepot#31,
# php-telegram-bot/core#353): aiogram cannot decode it (BaseSession.check_response).
HTML_BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

# NOT FROM THE SOURCES. Bot API 10.2/10.3 (ephemeral messages) run on a server build whose source
# is unpublished (SRV is 10.0), and the documentation names no errors. These texts are the fake's
# own, marked "(fake ...)" so nobody mistakes them for Telegram's; a bot must not parse them.
EPHEMERAL_NOT_A_GROUP = "ephemeral messages can be sent only to group chats (fake wording)"
EPHEMERAL_RECEIVER_INVALID = "ephemeral message receiver is not a member (fake wording)"
EPHEMERAL_NOT_ALLOWED = (
    "ephemeral message needs an administrator bot or a fresh callback_query_id (fake wording)"
)
EPHEMERAL_NOT_FOUND = "ephemeral message not found (fake wording)"
