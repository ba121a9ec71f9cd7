"""Send limits shared by several replicas: token buckets in Redis, checked and taken atomically.

One Lua script refills and checks two buckets (all sends, and the one chat's) with Redis's own
clock, and takes a token from both only when both have one; otherwise it says how long to wait.
Without ``REDIS_URL`` the outbox worker's in-process buckets are the only limit.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens, wait = {}, 0
for i = 1, 2 do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local held = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local have = tonumber(held[1]) or burst
  local at = tonumber(held[2]) or now
  have = math.min(burst, have + math.max(0, now - at) * rate)
  if have < 1 then wait = math.max(wait, (1 - have) / rate) end
  tokens[i] = have
end
for i = 1, 2 do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if wait == 0 then tokens[i] = tokens[i] - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate * 1000) + 1000)
end
return tostring(wait)
"""

Rate = tuple[float, float]  # (tokens a second, burst)


class SharedSendLimits:
    """Buckets under ``prefix`` in Redis (``client``: a ``redis.asyncio.Redis``)."""

    def __init__(self, client: Any, prefix: str = "helpbot:send") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_TAKE)

    async def take(self, chat_id: str, chat: Rate, overall: Rate) -> float:
        """Take one send for ``chat_id``: 0.0 when taken, else the seconds to wait first."""
        keys = [f"{self._prefix}:all", f"{self._prefix}:chat:{chat_id}"]
        args = [overall[0], max(overall[1], 1.0), chat[0], max(chat[1], 1.0)]
        try:
            return float(await self._script(keys=keys, args=args))
        except (RedisError, OSError) as exc:  # the process's own buckets still limit it
            log.warning("shared send limits unavailable chat=%s: %s", chat_id, type(exc).__name__)
            return 0.0
