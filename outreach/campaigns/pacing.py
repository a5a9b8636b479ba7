"""Pacing: how fast letters may leave, shared by every worker process through Redis.

Parliament mail filters quarantine floods, so a drive is sent at a pace they accept:

* a per-domain limit (`OUTREACH_DOMAIN_RATES`, e.g. ``europarl.europa.eu=60/min,*=600/min``),
  shared by all workers: a GCRA token bucket in Redis (one key per domain holding the "theoretical
  arrival time" of the next letter), updated atomically by a Lua script that reads Redis's own
  clock, so that workers on several hosts agree. A slot is spaced ``period / N`` apart, with a 2 %
  margin so that the jitter of SMTP transactions can never put N + 1 letters into one period at
  the receiving server;
* a per-campaign pace: spread the drive evenly over `Campaign.pace_hours` (the same bucket, one key
  per campaign), and optionally only in the office hours of each recipient's country (Monday to
  Friday, 09:00 to 17:00 local time);
* a per-relay concurrency limit (`OUTREACH_RELAY_CONCURRENCY`): a counting semaphore in Redis
  whose holders expire, so that a killed worker cannot keep a slot.

A worker waits in place for a slot that comes within `MAX_INLINE_WAIT`; a later one is not
reserved, and the letter is put back as `deferred` until then (see sending.py), without counting
as an attempt.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

MAX_INLINE_WAIT = 10.0  # seconds a worker thread waits for a slot before deferring the letter
MARGIN = 1.02
OFFICE_OPENS, OFFICE_CLOSES = 9, 17  # local hours, Monday to Friday
KEY_PREFIX = "outreach:pace:"

_RATE = re.compile(
    r"\s*(?P<domain>\*|[a-z0-9.-]+)\s*=\s*(?P<count>[0-9]+)\s*/\s*(?P<unit>s|min|h)\s*", re.I
)
_UNIT_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}

# Reserve the next slot of a GCRA bucket if it comes within max_wait: returns {reserved, wait_ms}.
# Redis's clock (TIME) is the one clock every worker shares.
_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then return {0, wait} end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(wait + interval) + 60000)
return {1, wait}
"""

# A counting semaphore: drop expired holders, then take a place if one is free.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  return 1
end
return 0
"""


class RateError(ValueError):
    """OUTREACH_DOMAIN_RATES that cannot be read, with what is wrong."""


@dataclass(frozen=True)
class DomainRates:
    """Seconds between two letters to a domain (None: no limit)."""

    intervals: dict[str, float] = field(default_factory=dict)
    default: float | None = None

    @classmethod
    def parse(cls, text: str) -> DomainRates:
        intervals: dict[str, float] = {}
        default = None
        for item in filter(None, (part.strip() for part in text.split(","))):
            match = _RATE.fullmatch(item)
            if match is None:
                raise RateError(
                    f"{item!r} is not a rate: write domain=N/min (or N/s, N/h), e.g. "
                    "europarl.europa.eu=60/min, and *=N/min for every other domain"
                )
            count = int(match["count"])
            if count <= 0:
                raise RateError(f"{item!r}: the number of letters must be at least 1")
            interval = _UNIT_SECONDS[match["unit"].lower()] / count
            if match["domain"] == "*":
                default = interval
            else:
                intervals[match["domain"].lower().strip(".")] = interval
        return cls(intervals, default)

    def interval(self, domain: str) -> float | None:
        """The spacing for `domain`; a subdomain (ep.europarl.europa.eu) shares its parent's."""
        domain = domain.lower().strip(".")
        while domain:
            if domain in self.intervals:
                return self.intervals[domain]
            _, _, domain = domain.partition(".")
        return self.default


@dataclass(frozen=True)
class Slot:
    """The outcome of asking for a slot: reserved (after `wait` seconds), or not before `wait`."""

    reserved: bool
    wait: float


class Pacer:
    """The shared limits, over one Redis connection (thread-safe: redis-py pools connections)."""

    def __init__(self, redis: Redis, rates: DomainRates, relay_concurrency: int) -> None:
        self.redis = redis
        self.rates = rates
        self.relay_concurrency = relay_concurrency
        self._reserve = redis.register_script(_RESERVE)
        self._acquire = redis.register_script(_ACQUIRE)

    def reserve(self, key: str, interval: float, max_wait: float = MAX_INLINE_WAIT) -> Slot:
        """The next slot of bucket `key` (one letter per `interval` seconds)."""
        interval_ms = max(1, math.ceil(interval * MARGIN * 1000))
        reserved, wait_ms = self._reserve(
            keys=[KEY_PREFIX + key], args=[interval_ms, int(max_wait * 1000)]
        )
        return Slot(bool(reserved), int(wait_ms) / 1000)

    def reserve_domains(self, domains: set[str]) -> Slot:
        """A slot for a letter to these recipient domains (a joint letter may have several)."""
        longest = 0.0
        for domain in sorted(domains):
            interval = self.rates.interval(domain)
            if interval is None:
                continue
            slot = self.reserve(f"domain:{domain}", interval)
            if not slot.reserved:
                return slot
            longest = max(longest, slot.wait)
        return Slot(True, longest)

    def reserve_campaign(self, campaign_id: int, pace_hours: int, letters: int) -> Slot:
        """A slot of a campaign spread evenly over `pace_hours`."""
        interval = pace_hours * 3600 / max(letters, 1)
        return self.reserve(f"campaign:{campaign_id}", interval)

    def try_acquire_relay(self, hold_seconds: float) -> str | None:
        """A place at the relay if one is free now (see `acquire_relay`), else None."""
        holder = uuid.uuid4().hex
        hold_ms = int(hold_seconds * 1000)
        if self._acquire(
            keys=[KEY_PREFIX + "relay"], args=[self.relay_concurrency, hold_ms, holder]
        ):
            return holder
        return None

    def acquire_relay(self, hold_seconds: float, poll: float = 0.05) -> str:
        """One of the relay's `relay_concurrency` places, for one SMTP transaction; returns the
        holder to give back. The place expires after `hold_seconds` in case this process dies
        holding it. Raises RedisError when Redis cannot be reached."""
        while (holder := self.try_acquire_relay(hold_seconds)) is None:
            time.sleep(poll)
        return holder

    def release_relay(self, holder: str) -> None:
        """Give a place back; if Redis is unreachable, it expires by itself."""
        try:
            self.redis.zrem(KEY_PREFIX + "relay", holder)
        except RedisError as exc:
            log.warning("could not give a relay place back (%s); it will expire", exc)

    @contextmanager
    def relay(self, hold_seconds: float, poll: float = 0.05) -> Iterator[None]:
        """`acquire_relay` and `release_relay` around a block."""
        holder = self.acquire_relay(hold_seconds, poll)
        try:
            yield
        finally:
            self.release_relay(holder)


def estimated_seconds(
    domain_counts: dict[str, int], rates: DomainRates, pace_hours: int | None
) -> tuple[float, str]:
    """The shortest time a drive can take under its pace, and what sets it: the slowest domain at
    its limit, or the campaign's own window (office hours make it longer still)."""
    seconds, why = 0.0, "no limit applies"
    for domain, count in domain_counts.items():
        interval = rates.interval(domain)
        if interval is not None and count and count * interval * MARGIN > seconds:
            per_minute = 60 / interval
            seconds = count * interval * MARGIN
            why = f"{count} letters to {domain} at {per_minute:g} a minute"
    if pace_hours and pace_hours * 3600 > seconds:
        seconds, why = pace_hours * 3600.0, f"spread over {pace_hours} h"
    return seconds, why


# --- office hours ---------------------------------------------------------------------------------
# The capital's time zone of each country whose officials a drive writes to (EU, EEA, the UK,
# Switzerland and the candidates); officials of other countries are paced on Brussels time.
COUNTRY_ZONES = {
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "CY": "Asia/Nicosia",
    "CZ": "Europe/Prague", "DE": "Europe/Berlin", "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn",
    "ES": "Europe/Madrid", "FI": "Europe/Helsinki", "FR": "Europe/Paris", "GR": "Europe/Athens",
    "HR": "Europe/Zagreb", "HU": "Europe/Budapest", "IE": "Europe/Dublin", "IT": "Europe/Rome",
    "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg", "LV": "Europe/Riga", "MT": "Europe/Malta",
    "NL": "Europe/Amsterdam", "PL": "Europe/Warsaw", "PT": "Europe/Lisbon", "RO": "Europe/Bucharest",
    "SE": "Europe/Stockholm", "SI": "Europe/Ljubljana", "SK": "Europe/Bratislava",
    "GB": "Europe/London", "CH": "Europe/Zurich", "NO": "Europe/Oslo", "IS": "Atlantic/Reykjavik",
    "LI": "Europe/Vaduz", "UA": "Europe/Kyiv", "MD": "Europe/Chisinau", "AL": "Europe/Tirane",
    "ME": "Europe/Podgorica", "MK": "Europe/Skopje", "RS": "Europe/Belgrade", "BA": "Europe/Sarajevo",
    "GE": "Asia/Tbilisi", "TR": "Europe/Istanbul",
}  # fmt: skip
DEFAULT_ZONE = "Europe/Brussels"


def office_hours_wait(country_code: str | None, now: datetime) -> float:
    """Seconds until the office hours of the country (0 while they are open). `now` is aware."""
    zone = ZoneInfo(COUNTRY_ZONES.get((country_code or "").upper(), DEFAULT_ZONE))
    local = now.astimezone(zone)
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        if day.weekday() >= 5:
            continue
        opens = datetime(day.year, day.month, day.day, OFFICE_OPENS, tzinfo=zone)
        closes = datetime(day.year, day.month, day.day, OFFICE_CLOSES, tzinfo=zone)
        if local < opens:
            return (opens - local).total_seconds()
        if local < closes:
            return 0.0
    raise AssertionError("a week always has a working day")  # pragma: no cover
