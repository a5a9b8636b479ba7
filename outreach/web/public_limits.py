"""The public form's two rate limits, per IP address and per e-mail address, counted in Redis in
one round trip.

They are Flask-Limiter's limits as it would count them (the `limits` library's fixed window, the
same keys under the same prefix, in the limiter's Redis storage, so they hold across gunicorn
workers), but both are checked by one Lua call instead of one `evalsha` a limit: Flask-Limiter's
own path took a quarter of a signature's time. As with Flask-Limiter's default, the limits are
taken in turn and counting stops at the first one exceeded. Past a limit the answer is 429 with
`Retry-After`, the seconds left in that limit's window (read in the same call). If Redis does not
answer, the request goes on (as RATELIMIT_SWALLOW_ERRORS): the burst rule, in the database, still
holds floods for review.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from werkzeug.exceptions import TooManyRequests

from outreach.extensions import limiter

log = logging.getLogger(__name__)

# KEYS: the counters; ARGV: each one's window in seconds and amount, in turn. Each counter is
# INCRBY 1 with its expiry set when the window starts (limits' incr_expire.lua). Returns
# {0, 0} when every limit holds, else {the 1-based index of the limit exceeded, its TTL}.
_SCRIPT = """
for i, key in ipairs(KEYS) do
  local expiry = tonumber(ARGV[2 * i - 1])
  local current = redis.call('incrby', key, 1)
  if current == 1 then
    redis.call('expire', key, expiry)
  end
  if current > tonumber(ARGV[2 * i]) then
    return {i, redis.call('ttl', key)}
  end
end
return {0, 0}
"""


@dataclass(frozen=True)
class Limit:
    """One limit of a request: the parsed item (`"3/hour"`), the key and the scope."""

    item: RateLimitItem
    key: str
    scope: str


@functools.lru_cache(maxsize=64)
def parsed(text: str) -> tuple[RateLimitItem, ...]:
    """The limits of a setting (`"30/hour;10/minute"`), the shortest window first (the order
    in which Flask-Limiter takes a decorator's limits)."""
    return tuple(sorted(parse_many(text), key=lambda item: item.get_expiry()))


def _prefix() -> str:
    return str(limiter._key_prefix or "")


def check(limits: list[Limit]) -> None:
    """Count one hit on each limit (in order, stopping at the first exceeded); raise 429."""
    if not limits or not limiter.enabled:
        return
    prefix = _prefix()
    identifiers = [
        [prefix, lim.key, lim.scope] if prefix else [lim.key, lim.scope] for lim in limits
    ]
    try:
        storage = limiter.storage
        if not isinstance(storage, RedisStorage):
            # Not Redis (a memory:// storage in a test set-up): the limits library, limit by limit.
            for lim, ids in zip(limits, identifiers, strict=True):
                if not limiter.limiter.hit(lim.item, *ids):
                    _refuse(lim, int(lim.item.get_expiry()))
            return
        keys = [
            storage.prefixed_key(lim.item.key_for(*ids))
            for lim, ids in zip(limits, identifiers, strict=True)
        ]
        args: list[int] = []
        for lim in limits:
            args += [lim.item.get_expiry(), lim.item.amount]
        exceeded, ttl = cast(list[int], _script(storage)(keys=keys, args=args))
    except TooManyRequests:
        raise
    except Exception:
        log.exception("rate limits unavailable (Redis); letting the request through")
        return
    if exceeded:
        lim = limits[int(exceeded) - 1]
        _refuse(lim, int(ttl) if int(ttl) > 0 else int(lim.item.get_expiry()))


def _refuse(lim: Limit, retry_after: int) -> None:
    log.info("ratelimit %s (%s) exceeded: %s", lim.item, lim.key, lim.scope)
    raise TooManyRequests(str(lim.item), retry_after=max(1, retry_after))


_scripts: list[Any] = []


def _script(storage: RedisStorage) -> Callable[..., Any]:
    """The script, run through the storage's client (redis-py's Script runs EVALSHA, and loads
    the script if Redis lost it). Made once: a Script may run on any client."""
    client = storage.get_connection()
    if not _scripts:
        _scripts.append(client.register_script(_SCRIPT.encode()))
    return functools.partial(_scripts[0], client=client)
