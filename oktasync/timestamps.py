"""Timestamps as oktasync writes and reads them: always UTC, always with a ``Z``.

* ``okta_time``: Okta's own format, millisecond precision (``2024-05-01T12:00:00.000Z``): what the System
  Log's ``since``/``until`` take and what Okta's ``published``/``lastUpdated`` look like;
* ``utc_seconds``: the same to the second (``2024-05-01T12:00:00Z``), for records people read;
* ``run_stamp``: a compact sortable stamp for run ids (``20240501T120000Z``);
* ``parse_time``: any of these (or an ISO 8601 time with an offset, or none: taken as UTC) back to an aware
  datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime


def _utc(moment: datetime | None) -> datetime:
    return (moment or datetime.now(UTC)).astimezone(UTC)


def okta_time(moment: datetime | None = None) -> str:
    """``2024-05-01T12:00:00.000Z`` (now, by default)."""
    moment = _utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_seconds(moment: datetime | None = None) -> str:
    """``2024-05-01T12:00:00Z`` (now, by default)."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_stamp(moment: datetime | None = None) -> str:
    """``20240501T120000Z`` (now, by default)."""
    return _utc(moment).strftime("%Y%m%dT%H%M%SZ")


def parse_time(value: str) -> datetime:
    """An aware datetime from an ISO 8601 time; ``Z`` or no offset at all means UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
