"""Due times in readers' zones: fixed local times, best hours, quiet hours and weekends, across DST."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from sendtime.planning import Plan, Profile, Rules, Source, best_moment, hour_starts, next_allowed, next_local_time

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
QUIET = Rules(quiet_from=time(21, 0), quiet_until=time(8, 0))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def peaked(hour: int, weight: float = 5.0) -> Profile:
    hours = [0.1] * 24
    hours[hour] = weight
    return Profile(hours=tuple(hours), weekdays=(1.0,) * 7)


@pytest.mark.parametrize(
    ("zone", "start", "expected_local", "expected_utc"),
    [
        # Berlin springs forward on 2026-03-29 (CET +1 to CEST +2): 09:00 is 08:00 UTC before, 07:00 after.
        (BERLIN, utc(2026, 3, 28, 12), datetime(2026, 3, 29, 9, 0), utc(2026, 3, 29, 7)),
        (BERLIN, utc(2026, 3, 27, 12), datetime(2026, 3, 28, 9, 0), utc(2026, 3, 28, 8)),
        # ... and falls back on 2026-10-25.
        (BERLIN, utc(2026, 10, 24, 12), datetime(2026, 10, 25, 9, 0), utc(2026, 10, 25, 8)),
        # New York springs forward on 2026-03-08 (EST -5 to EDT -4) and falls back on 2026-11-01.
        (NEW_YORK, utc(2026, 3, 7, 18), datetime(2026, 3, 8, 9, 0), utc(2026, 3, 8, 13)),
        (NEW_YORK, utc(2026, 10, 31, 18), datetime(2026, 11, 1, 9, 0), utc(2026, 11, 1, 14)),
    ],
)
def test_a_fixed_local_time_is_that_wall_clock_time_on_the_dst_switch_day(zone, start, expected_local, expected_utc):
    due = next_local_time(start, time(9, 0), zone=zone, rules=Rules())
    assert due == expected_utc
    assert due.astimezone(zone).replace(tzinfo=None) == expected_local


def test_a_local_time_inside_the_spring_gap_comes_as_late_as_the_gap_is_long():
    due = next_local_time(utc(2026, 3, 28, 12), time(2, 30), zone=BERLIN, rules=Rules())
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_a_local_time_already_past_today_is_tomorrow():
    due = next_local_time(utc(2026, 6, 1, 10), time(9, 0), zone=BERLIN, rules=Rules())  # 12:00 in Berlin
    assert due == utc(2026, 6, 2, 7)


@pytest.mark.parametrize(
    ("zone", "moment", "expected_local", "night_hours"),
    [
        # 23:00 local the evening before each switch: quiet until 08:00 on the switch morning, a
        # night an hour shorter in spring and an hour longer in autumn.
        (BERLIN, utc(2026, 3, 28, 22), datetime(2026, 3, 29, 8, 0), 8),
        (BERLIN, utc(2026, 10, 24, 21), datetime(2026, 10, 25, 8, 0), 10),
        (NEW_YORK, utc(2026, 3, 8, 4), datetime(2026, 3, 8, 8, 0), 8),
        (NEW_YORK, utc(2026, 11, 1, 3), datetime(2026, 11, 1, 8, 0), 10),
    ],
)
def test_quiet_hours_move_a_due_time_to_their_local_end_across_the_dst_switch(
    zone, moment, expected_local, night_hours
):
    assert moment.astimezone(zone).hour == 23
    due = next_allowed(moment, zone=zone, rules=QUIET)
    assert due.astimezone(zone).replace(tzinfo=None) == expected_local
    assert due - moment == timedelta(hours=night_hours)


def test_quiet_hours_in_the_autumn_fold_end_at_the_second_occurrence_when_the_first_is_past():
    rules = Rules(quiet_from=time(2, 0), quiet_until=time(2, 45))
    second_0230 = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN).astimezone(UTC)
    due = next_allowed(second_0230, zone=BERLIN, rules=rules)
    assert due > second_0230
    assert due - second_0230 == timedelta(minutes=15)


def test_quiet_hours_allow_the_day_and_not_the_night():
    assert QUIET.allows(datetime(2026, 6, 1, 8, 0, tzinfo=BERLIN))
    assert QUIET.allows(datetime(2026, 6, 1, 20, 59, tzinfo=BERLIN))
    assert not QUIET.allows(datetime(2026, 6, 1, 21, 0, tzinfo=BERLIN))
    assert not QUIET.allows(datetime(2026, 6, 1, 3, 0, tzinfo=BERLIN))
    lunch = Rules(quiet_from=time(12, 0), quiet_until=time(14, 0))
    assert not lunch.allows(datetime(2026, 6, 1, 13, 0, tzinfo=BERLIN))
    assert lunch.allows(datetime(2026, 6, 1, 14, 0, tzinfo=BERLIN))


def test_no_weekend_moves_saturday_to_monday_morning_after_quiet_hours():
    rules = Rules(quiet_from=time(21, 0), quiet_until=time(8, 0), no_weekend=True)
    saturday_noon = datetime(2026, 6, 6, 12, 0, tzinfo=NEW_YORK).astimezone(UTC)
    due = next_allowed(saturday_noon, zone=NEW_YORK, rules=rules)
    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 6, 8, 8, 0)


def test_best_moment_is_the_readers_best_local_hour_within_the_window():
    start = utc(2026, 6, 1, 5)  # 07:00 in Berlin, 01:00 in New York
    end = start + timedelta(hours=24)
    in_berlin = best_moment(start, end, zone=BERLIN, profile=peaked(18), rules=Rules())
    in_new_york = best_moment(start, end, zone=NEW_YORK, profile=peaked(18), rules=Rules())
    assert in_berlin == utc(2026, 6, 1, 16)
    assert in_new_york == utc(2026, 6, 1, 22)


def test_best_moment_skips_hours_the_rules_forbid():
    start = utc(2026, 6, 1, 5)
    moment = best_moment(start, start + timedelta(hours=24), zone=BERLIN, profile=peaked(23), rules=QUIET)
    assert 8 <= moment.astimezone(BERLIN).hour < 21


def test_best_moment_on_the_spring_switch_day_lands_on_the_local_hour():
    start = utc(2026, 3, 28, 23)  # midnight in Berlin, the night of the switch
    moment = best_moment(start, start + timedelta(hours=12), zone=BERLIN, profile=peaked(7), rules=Rules())
    assert moment.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 7, 0)
    assert moment == utc(2026, 3, 29, 5)


def test_hours_of_a_half_hour_zone_start_on_its_local_hour():
    starts = hour_starts(utc(2026, 6, 1, 0, 10), utc(2026, 6, 1, 3), zone=KOLKATA)
    assert all(moment.astimezone(KOLKATA).minute == 0 for moment in starts[1:])


def test_readers_fall_back_from_their_profile_to_the_lists_then_to_the_campaign_time():
    start = utc(2026, 6, 1, 5)
    plan = Plan(start=start, end=start + timedelta(hours=24), local_time=time(10, 0))
    own = plan.reader_due_at(zone=BERLIN, own=peaked(18), list_profile=peaked(12))
    from_list = plan.reader_due_at(zone=BERLIN, own=None, list_profile=peaked(12))
    campaign = plan.reader_due_at(zone=BERLIN, own=None, list_profile=None)
    assert own == (utc(2026, 6, 1, 16), Source.OWN_PROFILE)
    assert from_list == (utc(2026, 6, 1, 10), Source.LIST_PROFILE)
    assert campaign == (utc(2026, 6, 1, 8), Source.CAMPAIGN_TIME)


def test_without_a_campaign_time_readers_without_history_get_the_mail_when_the_window_starts():
    start = utc(2026, 6, 1, 9)
    plan = Plan(start=start, end=start + timedelta(hours=24), rules=QUIET)
    assert plan.reader_due_at(zone=BERLIN, own=None, list_profile=None) == (start, Source.CAMPAIGN_TIME)
    late = utc(2026, 6, 1, 20)  # 22:00 in Berlin, quiet
    plan = Plan(start=late, end=late + timedelta(hours=24), rules=QUIET)
    assert plan.reader_due_at(zone=BERLIN, own=None, list_profile=None)[0] == utc(2026, 6, 2, 6)
