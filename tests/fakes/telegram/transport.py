"""Update transport methods: getUpdates and setWebhook/deleteWebhook/getWebhookInfo.

SRV = tdlib/telegram-bot-api: `process_set_webhook_query` (Client.cpp l. 15725-15797),
`do_set_webhook` (l. 16001-16049), `WebhookActor::start_up` (WebhookActor.cpp l. 705-716) and
`check_ip_address` (l. 772-786), whose refusal reaches setWebhook as "bad webhook: ..."
(`on_webhook_closed`, Client.cpp l. 15959-15962).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from .errors import SET_WEBHOOK_CONFLICT, bad_request, too_many_requests
from .params import Params
from .state import Handler, World
from .webhook import WebhookConfig

_SECRET = re.compile(r"[A-Za-z0-9_-]*")
WEBHOOK_PORTS = (443, 80, 88, 8443)


async def get_updates(world: World, p: Params) -> Any:
    if p.has("allowed_updates"):
        kinds = p.get_json("allowed_updates")
        world.queue.set_allowed(kinds if isinstance(kinds, list) else None)
    return await world.queue.get_updates(
        offset=p.get_int("offset"),
        limit=p.get_int("limit", 100, lo=1, hi=100) or 100,
        hold=p.get_int("timeout", 0, lo=0, hi=50) or 0,
    )


def _bad_webhook(world: World, url: str) -> str | None:
    """What api.telegram.org's WebhookActor refuses; a `--local` server skips all of it.

    Only HTTPS, only ports 443, 80, 88 and 8443; the address IPv4 and not reserved. The fake
    resolves no names: an IP literal or `localhost` is checked, any other host name passes.
    """
    if world.local_mode:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() == "http":
        return "An HTTPS URL must be provided for webhook"
    if (parts.port or 443) not in WEBHOOK_PORTS:
        return "Webhook can be set up only on ports 80, 88, 443 or 8443"
    host = parts.hostname or ""
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        return None
    if address.version == 6:
        return "IPv6-only addresses are not allowed"
    if not address.is_global:
        return f"IP address {address} is reserved"
    return None


async def set_webhook(world: World, p: Params) -> Any:
    url = (p.get_str("url") or "").strip()
    if not url:
        return await delete_webhook(world, p)
    now = world.clock.now()
    # SRV l. 15733-15738: any setWebhook with a URL within 1 s of the previous one -> 429.
    if now < world.next_set_webhook_at:
        raise too_many_requests(1)
    world.next_set_webhook_at = now + 1
    secret = p.get_str("secret_token") or None
    max_connections = p.get_int("max_connections", 40, lo=1, hi=100000 if world.local_mode else 100)
    current = world.delivery.config
    if (
        current is not None
        and (current.url, current.secret_token, current.max_connections)
        == (url, secret, max_connections)
        and not p.get_bool("drop_pending_updates")
    ):
        _set_allowed(world, p)
        return True  # SRV l. 15757-15770: "Webhook is already set"
    world.queue.terminate_poll(SET_WEBHOOK_CONFLICT)
    await world.delivery.stop()  # the old webhook is closed first (l. 15783-15794)
    if p.get_bool("drop_pending_updates"):
        world.queue.drop_all()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad_request("invalid webhook URL specified")
    if secret is not None and len(secret) > 256:
        raise bad_request("secret token is too long")
    if secret is not None and not _SECRET.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    refusal = _bad_webhook(world, parts.geturl())
    if refusal is not None:
        raise bad_request(f"bad webhook: {refusal}")
    _set_allowed(world, p)
    config = WebhookConfig(parts.geturl(), secret, max_connections or 40, now)
    # Outside local mode the URL is a public HTTPS one the fake cannot reach: it is recorded,
    # updates wait, and nothing is ever sent off this machine.
    await world.delivery.start(config, deliver=world.local_mode)
    return True


def _set_allowed(world: World, p: Params) -> None:
    if p.has("allowed_updates"):
        kinds = p.get_json("allowed_updates")
        world.queue.set_allowed(kinds if isinstance(kinds, list) else None)


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
