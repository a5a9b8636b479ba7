"""The estimated duration of a drive (outreach.campaigns.estimate) follows the pacing rules: the
slowest domain at its limit, a campaign spread over its hours, and office hours in each official's
country that stop the sending over nights and weekends while other countries go on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from outreach.campaigns.estimate import estimate, office_window
from outreach.campaigns.pacing import MARGIN, DomainRates

BRUSSELS = ZoneInfo("Europe/Brussels")
EP = "europarl.europa.eu"
ONE_A_SECOND = DomainRates.parse(f"{EP}=60/min")


def close(a: datetime | None, b: datetime) -> bool:
    assert a is not None, "the estimate has no finish"
    return abs((a - b).total_seconds()) < 0.01


def test_without_office_hours_the_slowest_domain_sets_the_duration() -> None:
    """705 letters to the Parliament at 60 a minute take 705 seconds plus the 2 % margin the
    buckets keep; letters to an unlimited domain add nothing."""
    start = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    result = estimate(
        {(EP, "FR"): 700, (EP, "DE"): 5, ("gouv.fr", "FR"): 30},
        rates=ONE_A_SECOND,
        pace_hours=None,
        office_hours=False,
        start=start,
    )
    assert result.letters == 735
    assert result.seconds is not None
    assert abs(result.seconds - 705 * MARGIN) < 1e-6
    assert "705 letters to europarl.europa.eu at 60 a minute" in result.bound_by


def test_a_spread_drive_takes_its_hours_when_they_are_longer_than_the_domain_limits() -> None:
    """Spread over 24 hours, 100 letters leave one per 24 h / 100 (with the margin)."""
    start = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    result = estimate(
        {(EP, "FR"): 100}, rates=ONE_A_SECOND, pace_hours=24, office_hours=False, start=start
    )
    assert close(result.finish_at, start + timedelta(hours=24 * MARGIN))
    assert result.bound_by == "spread over 24 hours"


def test_office_hours_carry_a_friday_afternoon_drive_over_the_weekend() -> None:
    """7,200 letters at one a second need 2 h 2 min 24 s of sending: launched on Friday at 16:00
    in Brussels, one hour goes out before 17:00 and the rest from Monday 09:00."""
    start = datetime(2026, 12, 4, 16, 0, tzinfo=BRUSSELS)  # a Friday
    result = estimate(
        {(EP, "BE"): 7200}, rates=ONE_A_SECOND, pace_hours=None, office_hours=True, start=start
    )
    needed = 7200 * MARGIN
    monday = datetime(2026, 12, 7, 9, 0, tzinfo=BRUSSELS)
    assert close(result.finish_at, monday + timedelta(seconds=needed - 3600))
    assert abs(result.sending_seconds - needed) < 0.01
    assert result.bound_by.endswith("in office hours")


def test_a_drive_launched_at_night_or_on_a_saturday_starts_at_the_next_opening() -> None:
    """Launched on Tuesday at 20:00 it starts Wednesday 09:00; on Saturday noon, Monday 09:00."""
    groups = {(EP, "BE"): 60}
    for start, opening in [
        (datetime(2026, 12, 1, 20, 0, tzinfo=BRUSSELS), datetime(2026, 12, 2, 9, 0, tzinfo=BRUSSELS)),
        (datetime(2026, 12, 5, 12, 0, tzinfo=BRUSSELS), datetime(2026, 12, 7, 9, 0, tzinfo=BRUSSELS)),
    ]:  # fmt: skip
        result = estimate(
            groups, rates=ONE_A_SECOND, pace_hours=None, office_hours=True, start=start
        )
        assert close(result.finish_at, opening + timedelta(seconds=60 * MARGIN))


def test_a_closed_country_does_not_hold_up_an_open_one_on_the_shared_domain() -> None:
    """Helsinki opens two hours before Lisbon (07:00 and 09:00 UTC in winter): the Finnish
    letters use the Parliament's limit first, the Portuguese ones follow when Lisbon opens."""
    start = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # a Monday, every office still closed
    result = estimate(
        {(EP, "FI"): 3600, (EP, "PT"): 3600},
        rates=ONE_A_SECOND,
        pace_hours=None,
        office_hours=True,
        start=start,
    )
    lisbon_opens = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert close(result.finish_at, lisbon_opens + timedelta(seconds=3600 * MARGIN))
    assert abs(result.sending_seconds - 2 * 3600 * MARGIN) < 0.01


def test_without_any_limit_the_last_country_to_open_sets_the_finish() -> None:
    start = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    result = estimate(
        {("gov.fi", "FI"): 10, ("gov.pt", "PT"): 10},
        rates=DomainRates(),
        pace_hours=None,
        office_hours=True,
        start=start,
    )
    assert close(result.finish_at, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    assert result.bound_by.startswith("no limit applies")


def test_a_spread_drive_in_office_hours_counts_only_open_hours() -> None:
    """Spread over 16 hours in office hours: eight hours on Monday, eight on Tuesday, and the
    margin's 19.2 minutes on Wednesday morning (a campaign's bucket keeps no credit overnight)."""
    start = datetime(2026, 12, 7, 9, 0, tzinfo=BRUSSELS)
    result = estimate(
        {("gov.be", "BE"): 16},
        rates=DomainRates(),
        pace_hours=16,
        office_hours=True,
        start=start,
    )
    wednesday = datetime(2026, 12, 9, 9, 0, tzinfo=BRUSSELS)
    assert close(result.finish_at, wednesday + timedelta(hours=16 * MARGIN - 16))


def test_an_official_without_a_country_is_paced_on_brussels_time() -> None:
    open_now, change = office_window(
        ZoneInfo("Europe/Brussels"), datetime(2026, 12, 4, 16, 30, tzinfo=BRUSSELS)
    )
    assert open_now
    assert change == datetime(2026, 12, 4, 17, 0, tzinfo=BRUSSELS)
    start = datetime(2026, 12, 4, 18, 0, tzinfo=BRUSSELS)
    result = estimate(
        {("example.org", None): 1},
        rates=DomainRates(),
        pace_hours=None,
        office_hours=True,
        start=start,
    )
    assert close(result.finish_at, datetime(2026, 12, 7, 9, 0, tzinfo=BRUSSELS))


def test_an_empty_audience_finishes_at_once() -> None:
    start = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    result = estimate({}, rates=ONE_A_SECOND, pace_hours=10, office_hours=True, start=start)
    assert result.letters == 0
    assert result.finish_at == start
