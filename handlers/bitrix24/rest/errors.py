"""Typed Bitrix24 errors and the one place that maps a response envelope to them."""

from __future__ import annotations

from typing import ClassVar

from knowledge.errors import HelpbotError

__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "Bitrix24Error",
    "Bitrix24Timeout",
    "ExpiredToken",
    "InvalidGrant",
    "InvalidToken",
    "MessageInFlight",
    "MethodNotFound",
    "NotFound",
    "OperationTimeLimit",
    "PortalRefused",
    "QueryLimitExceeded",
    "ServerError",
    "TransportError",
    "error_from_envelope",
]


class Bitrix24Error(HelpbotError):
    """An error reported by the portal (``error``/``error_description``) or met on the way to it.

    ``code`` is the portal's stable ``error`` value; ``status`` the HTTP status (None when no
    response arrived). Messages never carry tokens or webhook secrets: the client scrubs them first.
    """

    retryable: ClassVar[bool] = False

    def __init__(self, code: str, description: str = "", status: int | None = None) -> None:
        self.code = code
        self.description = description
        self.status = status
        where = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{code}: {description}{where}" if description else f"{code}{where}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r})"


class AuthenticationFailed(Bitrix24Error):
    """The webhook secret or the OAuth token was refused (``NO_AUTH_FOUND`` and friends)."""


class ExpiredToken(AuthenticationFailed):
    """``expired_token``: the OAuth access token is stale; refresh it and retry once."""


class InvalidToken(AuthenticationFailed):
    """``invalid_token``: SDKs treat it like an expired token (refresh once)."""


class InvalidGrant(AuthenticationFailed):
    """The OAuth server refused the refresh: ``invalid_grant``/``invalid_client`` (reinstall),
    ``PAYMENT_REQUIRED`` (the app's paid period ended) or another refusal that lasts until
    someone acts (bitrix24/b24restdocs ``settings/oauth/error-codes.md``) — an unreadable
    OAuth answer too (a 4xx with no JSON: ``HTTP_4xx``): no token, so it holds the channel
    (not ready; the calls wait, none given up) until someone acts; a 5xx is retried instead."""


class AccessDenied(Bitrix24Error):
    """The caller lacks a right or a scope, or the object is not the caller's."""


class PortalRefused(AccessDenied):
    """The portal refuses the caller everything, whatever the chat: REST off on its plan, the
    webhook gone, a scope or user access missing. Nothing can be sent until someone fixes it.

    The REST server's own refusals (bitrix24/b24restdocs ``_includes/system-errors.md``, "returned
    by the REST API itself, not by the logic of a specific method"), as opposed to a method's
    ``ACCESS_DENIED`` for one chat or message (HTTP 400 from its controller).
    """


class NotFound(Bitrix24Error):
    """The object (a bot, a message, a chat) does not exist."""


class MethodNotFound(Bitrix24Error):
    """``ERROR_METHOD_NOT_FOUND``: a misspelt method or a module not installed on the portal."""


class QueryLimitExceeded(Bitrix24Error):
    """The portal's leaky bucket overflowed (503 ``QUERY_LIMIT_EXCEEDED``; 429 in the v2 docs)."""

    retryable = True


class OperationTimeLimit(Bitrix24Error):
    """429 ``OPERATION_TIME_LIMIT``: the method used up its execution-time budget for a while.

    The method stays blocked until the ``time.operating_reset_at`` (a Unix time, up to ten
    minutes away) its last successful answer announced: ``reset_at`` when the client saw one.
    """

    retryable = True
    reset_at: float | None = None


class MessageInFlight(Bitrix24Error):
    """``MESSAGE_DUPLICATED_BY_UUID``: a message with this ``templateId`` is still being posted.

    The portal registers the uuid before it posts; ask again later and it answers with the
    posted message (or, once the registration expires, posts it).
    """

    retryable = True


class ServerError(Bitrix24Error):
    """A 5xx answer from the portal or a proxy in front of it."""

    retryable = True


class Bitrix24Timeout(Bitrix24Error):
    """No answer within the configured time-out."""

    retryable = True

    def __init__(self, description: str = "no answer in time") -> None:
        super().__init__("TIMEOUT", description)


class TransportError(Bitrix24Error):
    """The connection failed before an answer arrived (refused, reset, DNS)."""

    retryable = True

    def __init__(self, description: str) -> None:
        super().__init__("TRANSPORT_ERROR", description)


_BY_CODE: dict[str, type[Bitrix24Error]] = {
    "expired_token": ExpiredToken,
    "invalid_token": InvalidToken,
    "invalid_grant": InvalidGrant,
    "invalid_client": InvalidGrant,
    "NO_AUTH_FOUND": AuthenticationFailed,
    "authorization_error": AuthenticationFailed,
    "ERROR_OAUTH": AuthenticationFailed,
    "APPLICATION_NOT_FOUND": AuthenticationFailed,
    "METHOD_CONFIRM_WAITING": AuthenticationFailed,
    "QUERY_LIMIT_EXCEEDED": QueryLimitExceeded,
    "OPERATION_TIME_LIMIT": OperationTimeLimit,
    "ERROR_METHOD_NOT_FOUND": MethodNotFound,
    "MESSAGE_DUPLICATED_BY_UUID": MessageInFlight,
    "ACCESS_DENIED": AccessDenied,
    "INVALID_CREDENTIALS": AccessDenied,
    "insufficient_scope": AccessDenied,
    "user_access_error": AccessDenied,
    "WRONG_AUTH_TYPE": AccessDenied,
    "BOT_OWNERSHIP_ERROR": AccessDenied,
    "APP_ID_ERROR": AccessDenied,
    "NOT_FOUND": NotFound,
    "BOT_ID_ERROR": NotFound,
    "MESSAGE_ID_ERROR": NotFound,
    "INTERNAL_SERVER_ERROR": ServerError,
    "ERROR_UNEXPECTED_ANSWER": ServerError,
}

# b24restdocs system-errors.md: refusals of the caller as a whole, whatever the method
# (INVALID_CREDENTIALS: no such webhook; insufficient_scope: the token lacks the method's scope;
# user_access_error: the app is open to other users only; OVERLOAD_LIMIT: a manual block that
# support lifts; PORTAL_DELETED: the site closed, which its admin may reopen). None is worth a
# retry (some carry a 5xx status), none concerns one chat: the channel waits until it works.
_PORTAL_CODES = frozenset(
    {
        "INVALID_CREDENTIALS",
        "insufficient_scope",
        "user_access_error",
        "OVERLOAD_LIMIT",
        "PORTAL_DELETED",
    }
)
# ACCESS_DENIED is both that table's "REST is available only on commercial plans" ("… only by
# subscription" for a webhook; 401 in the current table, 403 in earlier revisions) and a method's
# refusal for one object; the REST server's text or a 401 tells the plan's apart.
_PLAN_TEXT = "REST is available only"
_PLAN_TEXT_OLD = "REST API is available only"


def error_from_envelope(code: str, description: str, status: int | None) -> Bitrix24Error:
    """Map an ``{"error", "error_description"}`` pair (and the HTTP status) to a typed error."""
    cls = _BY_CODE.get(code)
    if _refuses_portal(code, description, status):
        cls = PortalRefused
    elif cls is None:
        if code.endswith("_NOT_FOUND"):
            cls = NotFound
        elif status == 429:
            cls = QueryLimitExceeded
        elif status is not None and status >= 500:
            cls = ServerError
        else:
            cls = Bitrix24Error
    return cls(code, description, status)


def _refuses_portal(code: str, description: str, status: int | None) -> bool:
    if code in _PORTAL_CODES:
        return True
    if code != "ACCESS_DENIED":
        return False
    return status == 401 or description.startswith((_PLAN_TEXT, _PLAN_TEXT_OLD))
