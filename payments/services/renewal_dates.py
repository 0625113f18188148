"""When a shop-run subscription renews: the same local calendar day every period, counted from its anchor.

Every renewal date is the anchor plus n periods, computed afresh from the anchor, never chained from the
previous renewal date. Chaining carried every clamp forward (31 Jan → 28 Feb → 28 Mar …, for ever), and done
on the UTC calendar it moved a plan bought just after local midnight onto the day before (1 Nov 00:30 in
Amsterdam renewed 1 Dec, 31 Dec, 31 Jan, 1 Mar: two charges in December, none in February; probe H F2).

- The calendar is the shop's time zone (settings.TIME_ZONE), the one the merchant and the subscriber live in.
- The day is the anchor's local day, clamped only in a month that lacks it: 31 Jan → 28/29 Feb → 31 Mar →
  30 Apr → 31 May; yearly on 29 Feb → 28 Feb, and 29 Feb again in a leap year.
- The time is the anchor's local wall-clock time, across DST changes (00:30 stays 00:30). A time the clocks
  skip (02:30 on the last Sunday of March) renews as far past the change as it was meant to be (03:30 summer
  time); a time they pass twice (02:30 on the last Sunday of October) renews at the first of the two (summer
  time). That is Python's fold=0 (PEP 495), so the answer never depends on how a date was reached.

The anchor (Subscription.renewal_anchor) is where a subscription started, or the date a merchant last moved
its renewal to (a subscriber who asks to renew on the 15th renews on the 15th from then on).
"""
import calendar
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

from django.utils import timezone

# A period's average length: only to guess where in a long schedule a moment falls (renewal_index_after
# then steps to the exact index), so month lengths and leap days need not be exact here.
_AVERAGE_DAYS = {"day": 1, "week": 7, "month": 365.2425 / 12, "year": 365.2425}


def renewal_date(anchor: datetime, interval: str, count: int, n: int, *, tz=None) -> datetime:
    """The n-th renewal date (UTC) of a schedule of every `count` `interval`s anchored at `anchor`; n=0 is
    the anchor's own local day and time. Raises ValueError for an interval other than day/week/month/year."""
    tz = tz or timezone.get_default_timezone()
    local = anchor.astimezone(tz)
    day = _add_periods(local.date(), interval, count * n)
    # fold=0 for every date: a skipped or repeated wall-clock time resolves the same way each time.
    return datetime.combine(day, local.time().replace(fold=0), tzinfo=tz).astimezone(dt_timezone.utc)


def renewal_index_after(anchor: datetime, interval: str, count: int, moment: datetime, *, tz=None) -> int:
    """The smallest n ≥ 0 whose renewal date lies after `moment`."""
    periods = (moment - anchor) / timedelta(days=_AVERAGE_DAYS.get(interval, 1) * count)
    n = max(0, int(periods) - 1)
    while n > 0 and renewal_date(anchor, interval, count, n - 1, tz=tz) > moment:
        n -= 1
    while renewal_date(anchor, interval, count, n, tz=tz) <= moment:
        n += 1
    return n


def renewal_next(anchor: datetime, interval: str, count: int, *, due: datetime, now: datetime, tz=None) -> datetime:
    """The next renewal date once the cycle that was due at `due` is paid at `now`.

    `due` stands for the schedule's date nearest to it: normally it is one of them, but a date the old chained
    arithmetic left a few days early (31 Dec for 1 Jan) or a date set by hand must not make the next date fall
    a day after it (two charges in one period). The next date is the one after that, and never one already
    past: a date far back (the shop was down, a merchant moved it into the past) gives one charge now and then
    the schedule's first date still ahead, not one charge per missed period (probe E F9).
    """
    after = renewal_index_after(anchor, interval, count, due, tz=tz)
    nearest = after
    if after > 0:
        before = after - 1
        if due - renewal_date(anchor, interval, count, before, tz=tz) < renewal_date(anchor, interval, count, after,
                                                                                      tz=tz) - due:
            nearest = before
    n = max(nearest + 1, renewal_index_after(anchor, interval, count, now, tz=tz))
    return renewal_date(anchor, interval, count, n, tz=tz)


def _add_periods(day: date, interval: str, periods: int) -> date:
    if interval == "day":
        return day + timedelta(days=periods)
    if interval == "week":
        return day + timedelta(weeks=periods)
    if interval not in ("month", "year"):
        raise ValueError(f"unknown renewal interval {interval!r}")
    months = day.month - 1 + periods * (12 if interval == "year" else 1)
    year, month = day.year + months // 12, months % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))
