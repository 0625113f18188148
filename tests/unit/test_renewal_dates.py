"""Renewal dates (payments.services.renewal_dates): the anchor's local day and wall-clock time every period,
clamped only in a month that lacks the day, in the shop's time zone (probe H F2)."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from payments.services.renewal_dates import renewal_date, renewal_index_after, renewal_next

AMS = ZoneInfo("Europe/Amsterdam")


def local(*args, fold=0):
    return datetime(*args, tzinfo=AMS, fold=fold)


def shown(when):
    """A date as the subscriber sees it: local day and time, with the offset in force."""
    return when.astimezone(AMS).strftime("%Y-%m-%d %H:%M %z")


def schedule(anchor, interval, count=1, periods=4):
    """The first `periods` renewal dates, each reached the way the shop reaches it: the cycle due at the previous
    date is paid a minute after it, and the next date is computed from the anchor and that due date."""
    dates, due = [], anchor
    for _ in range(periods):
        due = renewal_next(anchor, interval, count, due=due, now=due + timedelta(minutes=1), tz=AMS)
        dates.append(shown(due))
    return dates


def test_bought_just_after_local_midnight_renews_on_the_local_day_not_the_utc_one():
    # 1 March 00:30 in Amsterdam is 28 February 23:30 UTC: it renews on the 1st (a DST change on 29 March
    # lies between; the wall-clock time stays 00:30).
    assert schedule(local(2026, 3, 1, 0, 30), "month") == [
        "2026-04-01 00:30 +0200", "2026-05-01 00:30 +0200", "2026-06-01 00:30 +0200", "2026-07-01 00:30 +0200"]


def test_bought_1_november_renews_once_a_month_none_twice_none_skipped():
    assert schedule(local(2026, 11, 1, 0, 30), "month") == [
        "2026-12-01 00:30 +0100", "2027-01-01 00:30 +0100", "2027-02-01 00:30 +0100", "2027-03-01 00:30 +0100"]


def test_a_month_end_is_clamped_only_in_the_month_that_lacks_it():
    assert schedule(local(2027, 1, 31, 9, 0), "month", periods=5) == [
        "2027-02-28 09:00 +0100", "2027-03-31 09:00 +0200", "2027-04-30 09:00 +0200", "2027-05-31 09:00 +0200",
        "2027-06-30 09:00 +0200"]
    assert shown(renewal_date(local(2028, 1, 31, 9, 0), "month", 1, 1, tz=AMS)) == "2028-02-29 09:00 +0100"
    assert shown(renewal_date(local(2028, 1, 30, 9, 0), "month", 1, 1, tz=AMS)) == "2028-02-29 09:00 +0100"


def test_a_leap_day_renews_on_28_february_and_on_29_february_again_in_a_leap_year():
    assert schedule(local(2028, 2, 29, 12, 0), "year") == [
        "2029-02-28 12:00 +0100", "2030-02-28 12:00 +0100", "2031-02-28 12:00 +0100", "2032-02-29 12:00 +0100"]


def test_interval_counts_count_from_the_anchor():
    # Every 3 months from 30 November: February has no 30th, May and August do.
    assert schedule(local(2026, 11, 30, 8, 0), "month", 3) == [
        "2027-02-28 08:00 +0100", "2027-05-30 08:00 +0200", "2027-08-30 08:00 +0200", "2027-11-30 08:00 +0100"]
    assert schedule(local(2026, 12, 31, 8, 0), "year", 2, periods=2) == [
        "2028-12-31 08:00 +0100", "2030-12-31 08:00 +0100"]


@pytest.mark.parametrize("interval, days, spring_start, autumn_start", [("day", 1, 26, 22), ("week", 7, 20, 16)])
def test_days_and_weeks_keep_the_local_time_across_both_dst_changes(interval, days, spring_start, autumn_start):
    # 29 March 2026 (clocks forward) and 25 October 2026 (clocks back) both fall inside these runs.
    spring = schedule(local(2026, 3, spring_start, 0, 30), interval, periods=6)
    autumn = schedule(local(2026, 10, autumn_start, 0, 30), interval, periods=6)
    for run, first in ((spring, datetime(2026, 3, spring_start)), (autumn, datetime(2026, 10, autumn_start))):
        assert [d[:16] for d in run] == [f"{first + timedelta(days=days * n):%Y-%m-%d} 00:30" for n in range(1, 7)]
    assert spring[0].endswith("+0100") and spring[-1].endswith("+0200")
    assert autumn[0].endswith("+0200") and autumn[-1].endswith("+0100")


def test_a_monthly_plan_keeps_its_wall_clock_time_when_the_offset_changes():
    assert schedule(local(2026, 9, 15, 0, 30), "month", periods=2) == [
        "2026-10-15 00:30 +0200", "2026-11-15 00:30 +0100"]


def test_a_time_the_clocks_skip_renews_as_far_past_the_change_and_then_at_its_own_time_again():
    # 02:30 on 29 March 2026 does not exist in Amsterdam: it renews at 03:30 summer time, as every time.
    assert schedule(local(2026, 1, 29, 2, 30), "month") == [
        "2026-02-28 02:30 +0100", "2026-03-29 03:30 +0200", "2026-04-29 02:30 +0200", "2026-05-29 02:30 +0200"]
    twice = {renewal_date(local(2026, 1, 29, 2, 30), "month", 1, 2, tz=AMS) for _ in range(2)}
    assert twice == {datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("UTC"))}


def test_a_time_the_clocks_pass_twice_renews_at_the_first_of_the_two():
    assert schedule(local(2026, 9, 25, 2, 30), "month", periods=2) == [
        "2026-10-25 02:30 +0200", "2026-11-25 02:30 +0100"]
    # Anchored at the second 02:30 of that night (winter time): the later dates are the same.
    assert schedule(local(2026, 10, 25, 2, 30, fold=1), "month", periods=1) == ["2026-11-25 02:30 +0100"]


def test_a_date_far_in_the_past_gives_the_first_date_still_ahead():
    # Due 1 December, the shop was down (or the subscriber past due) until 20 February: one charge, then 1 March.
    anchor = local(2026, 11, 1, 0, 30)
    when = renewal_next(anchor, "month", 1, due=local(2026, 12, 1, 0, 30), now=local(2027, 2, 20, 10, 0), tz=AMS)
    assert shown(when) == "2027-03-01 00:30 +0100"


def test_renew_now_before_the_date_moves_it_one_period_on():
    anchor = local(2026, 11, 1, 0, 30)
    when = renewal_next(anchor, "month", 1, due=local(2026, 12, 1, 0, 30), now=local(2026, 11, 20, 10, 0), tz=AMS)
    assert shown(when) == "2027-01-01 00:30 +0100"


def test_a_date_the_old_arithmetic_left_early_is_not_followed_by_a_second_charge_a_day_later():
    # The chained UTC arithmetic set 31 December for the 1 January renewal: the one after it is 1 February.
    anchor = local(2026, 11, 1, 0, 30)
    due = local(2026, 12, 31, 0, 30)
    assert shown(renewal_next(anchor, "month", 1, due=due, now=due + timedelta(minutes=1), tz=AMS)) == \
        "2027-02-01 00:30 +0100"
    # ... and 28 March for a month-end plan: the one after it is 30 April.
    due = local(2027, 3, 28, 9, 0)
    assert shown(renewal_next(local(2027, 1, 31, 9, 0), "month", 1, due=due, now=due, tz=AMS)) == \
        "2027-04-30 09:00 +0200"


def test_the_index_after_a_moment_is_exact_far_into_a_schedule():
    anchor = local(2026, 1, 31, 23, 59)
    for n in (0, 1, 11, 59, 120):
        when = renewal_date(anchor, "month", 1, n, tz=AMS)
        assert renewal_index_after(anchor, "month", 1, when, tz=AMS) == n + 1
        assert renewal_index_after(anchor, "month", 1, when - timedelta(seconds=1), tz=AMS) == n
    assert renewal_index_after(anchor, "day", 1, anchor - timedelta(days=30), tz=AMS) == 0


def test_the_calendar_is_the_shops_time_zone(settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    assert shown(renewal_date(local(2026, 3, 1, 0, 30), "month", 1, 1)) == "2026-04-01 00:30 +0200"
    settings.TIME_ZONE = "UTC"  # the same moment is 28 February 23:30 there: it would renew on the 28th
    assert shown(renewal_date(local(2026, 3, 1, 0, 30), "month", 1, 1)) == "2026-03-29 00:30 +0100"


def test_an_unknown_interval_is_refused():
    with pytest.raises(ValueError):
        renewal_date(local(2026, 1, 1), "fortnight", 1, 1, tz=AMS)
