"""How long a drive will take under its pacing, and when it will finish if launched at a moment.

The workspace shows it before launch, for the audience as it is now. It follows the rules the
workers apply (outreach.campaigns.pacing, outreach.campaigns.sending._pace):

* each recipient domain with a limit gets one letter per `interval * MARGIN` seconds;
* a campaign spread over `pace_hours` gets one letter per `pace_hours * 3600 / letters * MARGIN`
  seconds. Its bucket keeps no credit for time it did not use (GCRA: an empty bucket starts from
  now), so the hours of a spread drive are hours of sending;
* with office hours, a letter leaves only while its official's country is in office hours (Monday
  to Friday, 09:00 to 17:00 in the capital's time zone); the rest of the time, nothing of that
  country is sent, and the buckets above serve the countries that are open.

Without office hours the answer is the slowest of those limits. With them, time is cut into
slices in which the same countries are open (the opening and closing instants of every time zone
of the audience), and each slice sends what its limits allow, the letters of one domain shared
among its open countries in proportion. The estimate counts letters as fractions: it is an
estimate, not a timetable. The relay's own speed is not known beforehand and is not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from contacts.audience import Audience
from contacts.models import Contact
from outreach.campaigns.pacing import (
    COUNTRY_ZONES,
    DEFAULT_ZONE,
    MARGIN,
    OFFICE_CLOSES,
    OFFICE_OPENS,
    DomainRates,
)

# Beyond this an estimate is not worth giving (a 1,440-hour spread in office hours takes about
# 36 weeks); the answer then says "more than a year".
HORIZON = timedelta(days=400)
_EPSILON = 1e-6  # letters: what is left of a group after fractions are subtracted

# (recipient domain, country code or None) -> letters
Groups = Mapping[tuple[str, str | None], float]


@dataclass(frozen=True)
class Estimate:
    letters: int
    start: datetime
    finish_at: datetime | None  # None: beyond HORIZON
    sending_seconds: float  # time in which letters leave (office hours only, with them)
    bound_by: str  # what sets the pace, for staff

    @property
    def seconds(self) -> float | None:
        """From launch to the last letter, nights and weekends included."""
        return None if self.finish_at is None else (self.finish_at - self.start).total_seconds()


def domain_of(email: str | None) -> str:
    return (email or "").rpartition("@")[2].lower().strip(".")


def audience_groups(session: Session, audience: Audience) -> dict[tuple[str, str | None], int]:
    """The audience's sendable recipients counted by (domain, country), in one query."""
    groups: dict[tuple[str, str | None], int] = {}
    stmt = audience.query(session).with_only_columns(Contact.email, Contact.country_code)
    for email, country in session.execute(stmt.order_by(None)):
        key = (domain_of(email), (country or "").upper() or None)
        groups[key] = groups.get(key, 0) + 1
    return groups


def _zone(country: str | None) -> ZoneInfo:
    return ZoneInfo(COUNTRY_ZONES.get((country or "").upper(), DEFAULT_ZONE))


def office_window(zone: ZoneInfo, at: datetime) -> tuple[bool, datetime]:
    """Whether offices in `zone` are open at `at` (aware), and when that next changes."""
    local = at.astimezone(zone)
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        if day.weekday() >= 5:
            continue
        opens = datetime(day.year, day.month, day.day, OFFICE_OPENS, tzinfo=zone)
        closes = datetime(day.year, day.month, day.day, OFFICE_CLOSES, tzinfo=zone)
        if local < opens:
            return False, opens
        if local < closes:
            return True, closes
    raise AssertionError("a week always has a working day")  # pragma: no cover


def _intervals(
    groups: Groups, rates: DomainRates, pace_hours: int | None
) -> tuple[dict[str, float | None], float | None, str]:
    """Seconds between two letters per domain and for the campaign (None: no limit), and what
    binds when every office is open."""
    letters = sum(groups.values())
    per_domain: dict[str, float] = {}
    for (domain, _), n in groups.items():
        per_domain[domain] = per_domain.get(domain, 0) + n
    domain_interval: dict[str, float | None] = {}
    longest, why = 0.0, "no limit applies: as fast as the relay takes them"
    for domain, n in sorted(per_domain.items()):
        interval = rates.interval(domain)
        domain_interval[domain] = interval * MARGIN if interval is not None else None
        if interval is not None and n * interval * MARGIN > longest:
            longest = n * interval * MARGIN
            why = f"{n:g} letters to {domain} at {60 / interval:g} a minute"
    campaign_interval = pace_hours * 3600 / letters * MARGIN if pace_hours and letters else None
    if campaign_interval is not None and letters * campaign_interval >= longest:
        why = f"spread over {pace_hours} hour{'s' if pace_hours != 1 else ''}"
    return domain_interval, campaign_interval, why


def estimate(
    groups: Groups,
    *,
    rates: DomainRates,
    pace_hours: int | None,
    office_hours: bool,
    start: datetime,
) -> Estimate:
    """When the last of these letters leaves if the drive starts at `start` (aware)."""
    letters = round(sum(groups.values()))
    domain_interval, campaign_interval, why = _intervals(groups, rates, pace_hours)
    if not letters:
        return Estimate(0, start, start, 0.0, "no letters")
    if not office_hours:
        per_domain: dict[str, float] = {}
        for (domain, _), n in groups.items():
            per_domain[domain] = per_domain.get(domain, 0.0) + n
        seconds = max(
            [n * (domain_interval[d] or 0.0) for d, n in per_domain.items()]
            + [letters * (campaign_interval or 0.0)]
        )
        return Estimate(letters, start, start + timedelta(seconds=seconds), seconds, why)
    return _in_office_hours(groups, letters, domain_interval, campaign_interval, why, start)


def _in_office_hours(
    groups: Groups,
    letters: int,
    domain_interval: dict[str, float | None],
    campaign_interval: float | None,
    why: str,
    start: datetime,
) -> Estimate:
    pending = {key: float(n) for key, n in groups.items() if n > 0}
    zones = {country: _zone(country) for _, country in pending}
    now, sending = start, 0.0
    while now < start + HORIZON:
        windows = {country: office_window(zone, now) for country, zone in zones.items()}
        next_change = min(change for _, change in windows.values())
        open_groups = [key for key in pending if windows[key[1]][0]]
        if not open_groups:
            now = next_change
            continue
        length = (next_change - now).total_seconds()
        # What each domain can send to its open countries in this slice, then the campaign's cap.
        wanted: dict[str, float] = {}
        for domain, country in open_groups:
            wanted[domain] = wanted.get(domain, 0.0) + pending[(domain, country)]
        sent = {
            d: min(n, length / i) if (i := domain_interval.get(d)) else n for d, n in wanted.items()
        }
        total = sum(sent.values())
        if campaign_interval and total * campaign_interval > length:
            share = length / campaign_interval / total
            sent = {d: n * share for d, n in sent.items()}
            total = sum(sent.values())
        used = max(
            [sent[d] * (domain_interval.get(d) or 0.0) for d in sent]
            + [total * (campaign_interval or 0.0)]
        )
        for key in open_groups:
            domain = key[0]
            pending[key] -= pending[key] * (sent[domain] / wanted[domain])
            if pending[key] < _EPSILON:
                del pending[key]
        if not pending:
            sending += used
            finish = (now + timedelta(seconds=used)).astimezone(UTC)
            return Estimate(letters, start, finish, sending, why + ", in office hours")
        sending += min(used, length)
        now = next_change
    return Estimate(letters, start, None, sending, why + ", in office hours")
