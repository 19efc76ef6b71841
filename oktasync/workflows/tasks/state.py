"""What `tasks` remembers between runs, in one JSON file per tenant+app (``<state dir>/<tenant>/<app id>/``).

One file, replaced atomically (``state.atomic_write_json``), so a run killed at any point leaves the previous
run's state or this run's, never a mix: the System Log cursor, the known failures (to tell new failures and
recoveries apart, which is what makes notifications exactly-once), retry attempts per user, dismissals, the
notification outbox (messages not yet delivered) and the counters behind the Prometheus metrics.

Nothing secret is written: webhook URLs are referred to by a short hash, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from oktasync.state import atomic_write_json, read_json
from oktasync.timestamps import okta_time, parse_time
from oktasync.workflows.tasks.model import LOG_OVERLAP, EventSummary, Failure

STATE_FILE = "tasks-state.json"
LOCK_FILE = "tasks.lock"
VERSION = 1
OUTBOX_LIMIT = 5000  # undelivered messages kept per app; the oldest are dropped (and counted) beyond this
# How long an event uuid applied by the event-hook receiver is remembered: Okta delivers at least once, and a
# retried or late duplicate must not announce a failure twice (docs/event-hooks.md).
HOOK_EVENTS_KEEP = timedelta(hours=24)


@dataclass
class TasksState:
    cursor: str | None = None  # `until` of the last System Log query: the next run reads from here
    seen_events: dict[str, str] = field(default_factory=dict)  # uuid -> published, inside the overlap window
    last_full_scan: str | None = None
    app_user_count: int = 0  # as of the last full scan: sizes the incremental-vs-full decision
    failures: dict[str, Failure] = field(default_factory=dict)
    # Latest provisioning event per user whose latest event was a failure (reason, operation, when).
    last_events: dict[str, EventSummary] = field(default_factory=dict)
    attempts: dict[str, dict[str, Any]] = field(default_factory=dict)
    dismissed: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    last_success: str | None = None
    hook_events: dict[str, str] = field(default_factory=dict)  # uuid -> when the receiver applied it
    # Times in this file are Okta's format (``oktasync.timestamps.okta_time``); files written before that
    # hold ``+00:00`` times in ``hook_events``. They are compared as times, never as strings.

    def knows_event(self, uuid: str) -> bool:
        """Whether this System Log event was already applied, by a `tasks` scan or the hook receiver."""
        return uuid in self.seen_events or uuid in self.hook_events

    def remember_hook_events(self, events: dict[str, str], now: datetime) -> None:
        """Record events the receiver applied (uuid -> published): `tasks` skips them as already seen, and
        the receiver drops redeliveries for ``HOOK_EVENTS_KEEP``."""
        at = okta_time(now)
        horizon = now - HOOK_EVENTS_KEEP
        self.hook_events = {u: t for u, t in self.hook_events.items() if parse_time(t) >= horizon}
        # `tasks` reads the System Log from its cursor minus an overlap: only events it can still read need
        # to be marked seen for it.
        oldest = parse_time(self.cursor) - LOG_OVERLAP if self.cursor else None
        for uuid, published in events.items():
            self.hook_events[uuid] = at
            if oldest is None or parse_time(published) >= oldest:
                self.seen_events[uuid] = published

    def attempt_count(self, user_id: str) -> int:
        """Retry attempts made for this user so far, across runs (0 when none)."""
        return int(self.attempts.get(user_id, {}).get("count", 0))

    def bump(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "cursor": self.cursor,
            "seen_events": self.seen_events,
            "last_full_scan": self.last_full_scan,
            "app_user_count": self.app_user_count,
            "failures": {uid: f.to_state() for uid, f in sorted(self.failures.items())},
            "last_events": self.last_events,
            "attempts": self.attempts,
            "dismissed": self.dismissed,
            "outbox": self.outbox[-OUTBOX_LIMIT:],
            "counters": self.counters,
            "last_success": self.last_success,
            "hook_events": self.hook_events,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> TasksState:
        if not raw:
            return cls()
        return cls(
            cursor=raw.get("cursor"),
            seen_events=dict(raw.get("seen_events") or {}),
            last_full_scan=raw.get("last_full_scan"),
            app_user_count=int(raw.get("app_user_count") or 0),
            failures={uid: Failure.from_state(f) for uid, f in (raw.get("failures") or {}).items()},
            last_events=dict(raw.get("last_events") or {}),
            attempts=dict(raw.get("attempts") or {}),
            dismissed=dict(raw.get("dismissed") or {}),
            outbox=list(raw.get("outbox") or []),
            counters={k: int(v) for k, v in (raw.get("counters") or {}).items()},
            last_success=raw.get("last_success"),
            hook_events=dict(raw.get("hook_events") or {}),
        )


def load_state(app_dir: Path) -> TasksState:
    return TasksState.from_json(read_json(app_dir / STATE_FILE))


def save_state(app_dir: Path, state: TasksState) -> None:
    dropped = len(state.outbox) - OUTBOX_LIMIT
    if dropped > 0:
        state.bump("notifications_dropped_total", dropped)
        state.outbox = state.outbox[-OUTBOX_LIMIT:]
    atomic_write_json(app_dir / STATE_FILE, state.to_json())
