"""The `tasks` state file: its typed records write back what they read, and its times are written in Okta's
format and compared as times, so that a file written with ``+00:00`` times (before) reads the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from oktasync.state import atomic_write_json
from oktasync.timestamps import okta_time
from oktasync.workflows.tasks.model import LOG_OVERLAP
from oktasync.workflows.tasks.notify import OutboxMessage
from oktasync.workflows.tasks.state import (
    HOOK_EVENTS_KEEP,
    STATE_FILE,
    Dismissal,
    RetryAttempts,
    TasksState,
    load_state,
    save_state,
)

NOW = datetime(2026, 12, 5, 7, 0, 0, tzinfo=UTC)


def old_format(moment: datetime) -> str:
    """How the state file wrote a hook event's time before: ``isoformat()`` with ``+00:00``."""
    return moment.astimezone(UTC).isoformat()


def test_hook_events_are_written_in_okta_format() -> None:
    state = TasksState()
    state.remember_hook_events({"e1": okta_time(NOW)}, NOW)
    assert state.hook_events == {"e1": "2026-12-05T07:00:00.000Z"}


def test_old_format_hook_events_are_kept_and_dropped_by_their_time() -> None:
    horizon = NOW - HOOK_EVENTS_KEEP
    state = TasksState(
        hook_events={
            # At the horizon itself: kept, although as a string it sorts before the horizon in Okta format.
            "inside-old": old_format(horizon),
            "inside-new": okta_time(horizon + timedelta(seconds=1)),
            "outside-old": old_format(horizon - timedelta(microseconds=1)),
            "outside-new": okta_time(horizon - timedelta(seconds=1)),
        }
    )
    assert old_format(horizon) < okta_time(horizon)  # compared as strings, it would be dropped
    state.remember_hook_events({}, NOW)
    assert set(state.hook_events) == {"inside-old", "inside-new"}
    assert state.hook_events["inside-old"] == old_format(horizon)  # kept as it was read


def test_events_are_marked_seen_when_tasks_can_still_read_them_whatever_the_cursor_format() -> None:
    cursor = NOW - timedelta(minutes=10)
    oldest = cursor - LOG_OVERLAP
    events = {
        "at-the-edge": okta_time(oldest),
        "just-inside": old_format(oldest + timedelta(microseconds=500_000)),
        "too-old": okta_time(oldest - timedelta(milliseconds=1)),
    }
    for written in (okta_time(cursor), old_format(cursor)):
        state = TasksState(cursor=written)
        state.remember_hook_events(events, NOW)
        assert set(state.seen_events) == {"at-the-edge", "just-inside"}, written
        assert set(state.hook_events) == set(events)


def test_a_state_file_with_old_format_times_reads_the_same(tmp_path: Path) -> None:
    state = TasksState(cursor=old_format(NOW), hook_events={"e1": old_format(NOW - timedelta(hours=1))})
    save_state(tmp_path, state)
    loaded = load_state(tmp_path)
    assert loaded.cursor == old_format(NOW) and loaded.hook_events == state.hook_events
    loaded.remember_hook_events({}, NOW)
    assert loaded.hook_events == state.hook_events


# A state file as `tasks` wrote it before its records were typed (attempts, dismissals and the outbox as
# plain objects).
WRITTEN_BEFORE: dict[str, Any] = {
    "version": 1,
    "cursor": "2026-12-05T06:58:00.000Z",
    "seen_events": {"e1": "2026-12-05T06:57:00.000Z"},
    "last_full_scan": "2026-12-05T06:00:00.000Z",
    "app_user_count": 3,
    "failures": {},
    "last_events": {},
    "attempts": {
        "00u1": {"count": 2, "last": "2026-12-05T06:58:00.000Z", "operation": "update"},
        "00u2": {
            "count": 1,
            "last": "2026-12-05T06:50:00.000Z",
            "operation": "create",
            "not_taken_announced": True,
        },
    },
    "dismissed": {
        "00u3": {"at": "2026-12-05T06:40:00.000Z", "event_id": "ev-9", "operation": "deactivate"},
        "00u4": {"at": "2026-12-05T06:41:00.000Z", "event_id": None, "operation": "update"},
    },
    "outbox": [
        {
            "id": "7b0c1e52-1d5e-4c1a-9a55-0c1f0e0f0a01",
            "target": "3f2a9c",
            "event": "failure",
            "body": {
                "tenant": "acme",
                "user": {"id": "00u1", "login": "a@example.com"},
                "operation": "update",
            },
            "tries": 0,
            "last_error": None,
        },
        {
            "id": "7b0c1e52-1d5e-4c1a-9a55-0c1f0e0f0a02",
            "target": "3f2a9c",
            "event": "recovered",
            "body": {"tenant": "acme", "how": "recovered"},
            "tries": 2,
            "last_error": "HTTP 503",
        },
    ],
    "counters": {"retried_total": 3},
    "last_success": "2026-12-05T06:58:01.000Z",
    "hook_events": {"e1": "2026-12-05T06:57:30.123456+00:00"},
}


def test_a_state_file_written_before_reads_into_typed_records_and_writes_back_byte_for_byte(
    tmp_path: Path,
) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    atomic_write_json(before / STATE_FILE, WRITTEN_BEFORE)
    state = load_state(before)
    assert state.attempts["00u1"] == RetryAttempts(2, "2026-12-05T06:58:00.000Z", "update")
    assert state.attempts["00u2"].not_taken_announced and state.attempt_count("00u2") == 1
    assert state.attempt_count("00u9") == 0
    assert state.dismissed["00u3"] == Dismissal("2026-12-05T06:40:00.000Z", "ev-9", "deactivate")
    assert state.dismissed["00u4"].event_id is None
    assert [(m.event, m.tries, m.last_error) for m in state.outbox] == [
        ("failure", 0, None),
        ("recovered", 2, "HTTP 503"),
    ]
    assert state.outbox[0].body["user"]["login"] == "a@example.com"
    save_state(after, state)
    assert (after / STATE_FILE).read_bytes() == (before / STATE_FILE).read_bytes()


def test_retry_attempts_dismissals_and_outbox_messages_round_trip() -> None:
    for raw in WRITTEN_BEFORE["attempts"].values():
        assert RetryAttempts.from_json(raw).to_json() == raw
    for raw in WRITTEN_BEFORE["dismissed"].values():
        assert Dismissal.from_json(raw).to_json() == raw
    for raw in WRITTEN_BEFORE["outbox"]:
        assert OutboxMessage.from_json(raw).to_json() == raw
