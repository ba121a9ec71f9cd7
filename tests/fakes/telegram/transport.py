"""Update transport methods: getUpdates and setWebhook/deleteWebhook/getWebhookInfo."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

from .errors import bad_request, too_many_requests
from .params import Params
from .state import Handler, World
from .updates import SET_WEBHOOK_CONFLICT
from .webhook import WebhookConfig

_SECRET = re.compile(r"[A-Za-z0-9_-]+")


async def get_updates(world: World, p: Params) -> Any:
    if p.has("allowed_updates"):
        kinds = p.get_json("allowed_updates")
        world.queue.set_allowed(kinds if isinstance(kinds, list) else None)
    return await world.queue.get_updates(
        offset=p.get_int("offset"),
        limit=p.get_int("limit", 100, lo=1, hi=100) or 100,
        hold=p.get_int("timeout", 0, lo=0, hi=50) or 0,
    )


async def set_webhook(world: World, p: Params) -> Any:
    url = (p.get_str("url") or "").strip()
    if not url:
        return await delete_webhook(world, p)
    parts = urlsplit(url)
    # A local Bot API server (which the fake is) also allows http://, any port and loopback.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("invalid webhook URL specified")
    secret = p.get_str("secret_token") or None
    if secret is not None and len(secret) > 256:
        raise bad_request("secret token is too long")
    if secret is not None and not _SECRET.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    current = world.delivery.config
    now = time.monotonic()
    if current is not None and now - current.set_at < 1:
        raise too_many_requests(1)
    world.queue.terminate_poll(SET_WEBHOOK_CONFLICT)
    if p.has("allowed_updates"):
        kinds = p.get_json("allowed_updates")
        world.queue.set_allowed(kinds if isinstance(kinds, list) else None)
    if p.get_bool("drop_pending_updates"):
        world.queue.drop_all()
    max_connections = p.get_int("max_connections", 40, lo=1, hi=100) or 40
    await world.delivery.start(WebhookConfig(url, secret, max_connections, now))
    return True


async def delete_webhook(world: World, p: Params) -> Any:
    await world.delivery.stop()
    if p.get_bool("drop_pending_updates"):
        world.queue.drop_all()
    return True


async def get_webhook_info(world: World, p: Params) -> Any:
    config = world.delivery.config
    info: dict[str, Any] = {
        "url": config.url if config else "",
        "has_custom_certificate": False,
        "pending_update_count": len(world.queue.pending),
    }
    if config is None:
        return info
    info["max_connections"] = config.max_connections
    info["ip_address"] = "127.0.0.1"
    if config.last_error_date is not None:
        info["last_error_date"] = config.last_error_date
        info["last_error_message"] = config.last_error_message
    if world.queue.allowed is not None:
        info["allowed_updates"] = sorted(world.queue.allowed)
    return info


HANDLERS: dict[str, Handler] = {
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
}
