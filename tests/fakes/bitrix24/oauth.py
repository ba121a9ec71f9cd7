"""The fake OAuth server (``oauth.bitrix.info``): rotating tokens, its refusals, its outages.

Sources: bitrix24/b24restdocs at ``5988ed1``, ``settings/oauth/auto-renewal.md`` (a GET with
``grant_type=refresh_token``, ``client_id``, ``client_secret``, ``refresh_token``; a new pair on
every renewal, the old refresh token spent; the answer names the OAuth server as ``domain``)
and ``settings/oauth/error-codes.md`` (``{"error", "error_description"}`` instead of the tokens:
``invalid_request``, ``invalid_client``, ``invalid_grant``, ``PAYMENT_REQUIRED`` "The trial or
paid period of the application has expired … Until then, the authorization server will not
issue tokens"). The statuses of those refusals are not documented; the bot reads the code.
The server is another host than the portal: an outage of one is not an outage of the other.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .world import Portal

# nginx's own page for a server that is down (no JSON envelope).
DOWN_PAGE = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def error_response(code: str, description: str, status: int) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


class OAuthServer:
    """Issues and checks the app's tokens; ``requests`` records every renewal asked for."""

    def __init__(
        self,
        portal: Portal,
        client_id: str,
        client_secret: str,
        read_params: Callable[[web.Request], Any],
        changed: Callable[[], None],
    ) -> None:
        self._portal = portal
        self._client_id = client_id
        self._client_secret = client_secret
        self._read_params = read_params
        self._changed = changed
        self.requests: list[dict[str, str]] = []
        self.down = False  # an outage: every request gets the 503 page (go_down)
        self.unpaid = False  # the app's paid period ended: PAYMENT_REQUIRED (lapse_payment)
        self._access: dict[str, bool] = {}  # access token -> still valid
        self._refresh: set[str] = set()

    def issue(self) -> dict[str, Any]:
        """A fresh install-style ``auth`` block for the app (as ONAPPINSTALL would carry)."""
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self._access[access] = True
        self._refresh.add(refresh)
        portal = self._portal
        now = int(portal.now())
        return {
            "access_token": access, "refresh_token": refresh, "expires": now + 3600,
            "expires_in": 3600, "scope": "imbot,imopenlines,im", "domain": portal.domain,
            "server_endpoint": portal.server_endpoint,
            "client_endpoint": portal.client_endpoint, "member_id": portal.member_id,
            "status": "L", "user_id": 1, "application_token": portal.application_token,
        }  # fmt: skip

    def expire_all(self) -> None:
        """Every access token issued so far now answers 401 ``expired_token``."""
        self._access = dict.fromkeys(self._access, False)

    def state(self, access_token: str) -> bool | None:
        """True: live; False: expired; None: never issued."""
        return self._access.get(access_token)

    async def on_token(self, request: web.Request) -> web.Response:
        params = {k: str(v) for k, v in (await self._read_params(request)).items()}
        self.requests.append(params)
        self._changed()
        if self.down:
            return web.Response(status=503, content_type="text/html", text=DOWN_PAGE)
        if params.get("grant_type") != "refresh_token":
            return error_response("invalid_request", "Unsupported grant type", 400)
        if params.get("client_id") != self._client_id or not secrets.compare_digest(
            params.get("client_secret", ""), self._client_secret
        ):
            return error_response("invalid_client", "Invalid client credentials", 401)
        if self.unpaid:
            return error_response("PAYMENT_REQUIRED", "Payment required", 400)
        old = params.get("refresh_token", "")
        if old not in self._refresh:
            return error_response("invalid_grant", "Invalid refresh token", 400)
        self._refresh.discard(old)
        tokens = self.issue()
        tokens["domain"] = "oauth.bitrix.info"  # the OAuth server names itself, not the portal
        tokens.pop("application_token")
        return web.json_response(tokens)
