"""oktasync.timestamps: the one place times are written and read, and the strings earlier code wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from oktasync.timestamps import okta_time, parse_time, run_stamp, utc_seconds

MOMENTS = [
    datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
    datetime(2024, 5, 1, 12, 0, 0, 999_999, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 1_500, tzinfo=UTC),
    datetime(2024, 5, 1, 14, 30, 5, 250_000, tzinfo=timezone(timedelta(hours=2, minutes=30))),
]


def test_okta_time_is_utc_to_the_millisecond_with_a_z() -> None:
    assert okta_time(datetime(2024, 5, 1, 12, 0, 0, 999_999, tzinfo=UTC)) == "2024-05-01T12:00:00.999Z"
    assert okta_time(MOMENTS[3]) == "2024-05-01T12:00:05.250Z"
    assert okta_time(datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) == "2024-05-01T12:00:00.000Z"


def test_the_other_formats() -> None:
    assert utc_seconds(MOMENTS[3]) == "2024-05-01T12:00:05Z"
    assert run_stamp(MOMENTS[3]) == "20240501T120005Z"


def test_now_by_default() -> None:
    before = datetime.now(UTC)
    stamped = parse_time(okta_time())
    assert before - timedelta(milliseconds=1) <= stamped <= datetime.now(UTC)
    assert len(run_stamp()) == len("20240501T120000Z") and run_stamp().endswith("Z")


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_strings_the_resync_journal_wrote_before_are_the_same(moment: datetime) -> None:
    """The journal's ``at`` and run-id stamp were built by hand; the helpers write them byte for byte."""
    at = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert okta_time(moment) == at
    assert run_stamp(moment) == moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00.000Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00.250000+00:00", datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (" 2024-05-01T12:00:00Z\n", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_every_form_as_an_aware_time(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("moment", MOMENTS)
def test_each_format_reads_back(moment: datetime) -> None:
    assert parse_time(okta_time(moment)) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_time(utc_seconds(moment)) == moment.replace(microsecond=0)
    assert parse_time(moment.isoformat()) == moment


def test_an_old_offset_string_and_a_z_string_compare_as_times() -> None:
    """As strings, ``…00Z`` sorts after ``…00.5+00:00`` although it is half a second earlier."""
    old, new = "2024-05-01T12:00:00.500000+00:00", "2024-05-01T12:00:00Z"
    assert new > old
    assert parse_time(new) < parse_time(old)


def test_parse_time_refuses_what_is_not_a_time() -> None:
    with pytest.raises(ValueError):
        parse_time("yesterday")
