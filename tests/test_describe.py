"""describe_spec: a schedule's timing in plain words (pure; used by the preview and dashboard)."""

from __future__ import annotations

from typing import Any

import pytest

from chronos.server.domain.describe import describe_cron, describe_spec
from chronos.server.domain.rows import ScheduleSpec
from chronos.server.normalize import normalize_schedule
from chronos.server.schemas import ScheduleIn


def spec(**fields: Any) -> ScheduleSpec:
    """A spec as the API stores it: validated and normalised (macros already expanded)."""
    body = ScheduleIn.model_validate({"name": "n", "handler": "h", **fields})
    return normalize_schedule(body, max_payload_bytes=1024)


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("* * * * *", "every minute"),
        ("*/5 * * * *", "every 5 minutes"),
        ("0,30 * * * *", "every 30 minutes"),
        ("0 * * * *", "every hour"),
        ("15 * * * *", "every hour at :15"),
        ("15,45 * * * *", "every hour at :15 and :45"),
        ("0 */2 * * *", "every 2 hours"),
        ("30 */6 * * *", "every 6 hours at :30"),
        ("0 2 * * *", "every day at 02:00"),
        ("30 9 * * 1", "every Monday at 09:30"),
        ("30 9 * * mon", "every Monday at 09:30"),
        ("0 9 * * 1,3,5", "every Monday, Wednesday and Friday at 09:00"),
        ("5 4 * * 0", "every Sunday at 04:05"),
        ("5 4 * * 7", "every Sunday at 04:05"),
        ("0 8 * * 1-5", "weekdays at 08:00"),
        ("0 8 * * MON-FRI", "weekdays at 08:00"),
        ("0 10 * * 6,0", "weekends at 10:00"),
        ("0 0 1 * *", "on day 1 of every month at 00:00"),
        ("0 0 1,15 * *", "on days 1 and 15 of every month at 00:00"),
        ("0 0 1 1,7 *", "on day 1 of January and July at 00:00"),
        ("0 6 * 1-3 1", "every Monday in January, February and March at 06:00"),
        ("0 0 29 2 *", "every year on February 29 at 00:00"),
        ("0 2,14 * * *", "at 02:00 and 14:00 every day"),
        ("0,30 2 * * *", "at 02:00 and 02:30 every day"),
        ("0 9,17 * * 1-5", "weekdays at 09:00 and 17:00"),
        ("0 9-17 * * *", "every hour from 09:00 to 17:00"),
        ("*/15 9-17 * * 1-5", "every 15 minutes from 09:00 to 17:45 on weekdays"),
        ("* 2 * * *", "every minute from 02:00 to 02:59"),
        ("*/10 * * * 1", "every 10 minutes on Mondays"),
        ("0 * * * 6,0", "every hour on weekends"),
        ("0   2  * *  *", "every day at 02:00"),  # spacing does not matter
        # macros (the API stores them expanded; both read the same)
        ("@hourly", "every hour"),
        ("@daily", "every day at 00:00"),
        ("@midnight", "every day at 00:00"),
        ("@weekly", "every Sunday at 00:00"),
        ("@monthly", "on day 1 of every month at 00:00"),
        ("@yearly", "every year on January 1 at 00:00"),
        ("@annually", "every year on January 1 at 00:00"),
        # six fields, seconds first
        ("* * * * * *", "every second"),
        ("*/10 * * * * *", "every 10 seconds"),
        ("0 30 2 * * *", "every day at 02:30"),
        ("30 0 2 * * *", "every day at 02:00:30"),
        # anything else is quoted
        ("*/7 * * * *", "cron `*/7 * * * *`"),  # uneven: :56 is followed by :00
        ("0 0 L * *", "cron `0 0 L * *`"),
        ("0 0 * * 5#2", "cron `0 0 * * 5#2`"),
        ("0 0 1 * 1", "cron `0 0 1 * 1`"),  # Vixie: day 1 OR Mondays
        ("0 0 */2 * *", "cron `0 0 */2 * *`"),
        ("5,10,20,40 1,2 * * *", "cron `5,10,20,40 1,2 * * *`"),
        ("*/20 * 2 * * *", "cron `*/20 * 2 * * *`"),
    ],
)
def test_cron_in_words(cron, words):
    assert describe_cron(cron) == words
    assert describe_spec(spec(cron=cron)) == f"{words} (UTC)"


def test_the_timezone_follows_in_parentheses():
    described = describe_spec(spec(cron="0 2 * * *", timezone="America/New_York"))
    assert described == "every day at 02:00 (America/New_York)"
    assert describe_spec(spec(schedule="@daily", timezone="Europe/Berlin")) == (
        "every day at 00:00 (Europe/Berlin)"
    )


@pytest.mark.parametrize(
    ("interval", "words"),
    [
        ({"value": 90, "unit": "second"}, "every 90 seconds"),
        ({"value": 1, "unit": "second"}, "every second"),
        ({"value": 5, "unit": "minutes"}, "every 5 minutes"),
        ({"value": 2, "unit": "hour"}, "every 2 hours"),
        ({"value": 1, "unit": "hour"}, "every hour"),
        ({"value": 1, "unit": "day"}, "every day"),
        ({"value": 2, "unit": "weeks"}, "every 2 weeks"),
        ("90s", "every 90 seconds"),
        ("1h", "every hour"),
        (5400, "every 90 minutes"),
    ],
)
def test_interval_in_words(interval, words):
    # an interval does not depend on a timezone: none is named
    assert describe_spec(spec(interval=interval, timezone="Europe/Paris")) == words


def test_every_alias_is_an_interval():
    assert describe_spec(spec(schedule="@every 45s")) == "every 45 seconds"


def test_the_window_follows():
    start, end = "2026-04-01T00:00:00Z", "2026-05-01T12:30:00Z"
    assert describe_spec(spec(cron="0 2 * * *", start_at=start, end_at=end)) == (
        "every day at 02:00 (UTC), from 2026-04-01T00:00:00Z until 2026-05-01T12:30:00Z"
    )
    assert describe_spec(spec(interval="2h", start_at="2026-04-01T02:00:00+02:00")) == (
        "every 2 hours, from 2026-04-01T00:00:00Z"
    )
    assert describe_spec(spec(cron="@hourly", timezone="Asia/Tokyo", end_at=end)) == (
        "every hour (Asia/Tokyo), until 2026-05-01T12:30:00Z"
    )
