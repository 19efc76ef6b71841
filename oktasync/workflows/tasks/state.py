"""What `tasks` remembers between runs, in one JSON file per tenant+app (``<state dir>/<tenant>/<app id>/``).

One file, replaced atomically (``state.atomic_write_json``), so a run killed at any point leaves the previous
run's state or this run's, never a mix: the System Log cursor, the known failures (to tell new failures and
recoveries apart, which is what makes notifications exactly-once), retry attempts per user, dismissals, the
notification outbox (messages not yet delivered) and the counters behind the Prometheus metrics.

Nothing secret is written: webhook URLs are referred to by a short hash, never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from oktasync.state import atomic_write_json, read_json
from oktasync.timestamps import okta_time, parse_time
from oktasync.workflows.tasks.model import LOG_OVERLAP, EventSummary, Failure
from oktasync.workflows.tasks.notify import OutboxMessage

STATE_FILE = "tasks-state.json"
LOCK_FILE = "tasks.lock"
VERSION = 1
OUTBOX_LIMIT = 5000  # undelivered messages kept per app; the oldest are dropped (and counted) beyond this
# How long an event uuid applied by the event-hook receiver is remembered: Okta delivers at least once, and a
# retried or late duplicate must not announce a failure twice (docs/event-hooks.md).
HOOK_EVENTS_KEEP = timedelta(hours=24)


@dataclass(frozen=True)
class RetryAttempts:
    """One user's retries across runs: how many, when the last one was made and for which operation, and
    whether a retry that did not take was announced (once per user until it recovers)."""

    count: int = 0
    last: str | None = None
    operation: str | None = None
    not_taken_announced: bool = False

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = {"count": self.count, "last": self.last, "operation": self.operation}
        if self.not_taken_announced:
            document["not_taken_announced"] = True
        return document

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> RetryAttempts:
        return RetryAttempts(
            count=int(raw.get("count") or 0),
            last=raw.get("last"),
            operation=raw.get("operation"),
            not_taken_announced=bool(raw.get("not_taken_announced")),
        )


@dataclass(frozen=True)
class Dismissal:
    """An operator's "handled outside oktasync" for one failure event (``tasks --dismiss``): a new failure
    of the same user (another event) is listed again."""

    at: str
    event_id: str | None
    operation: str

    def to_json(self) -> dict[str, object]:
        return {"at": self.at, "event_id": self.event_id, "operation": self.operation}

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> Dismissal:
        return Dismissal(str(raw.get("at")), raw.get("event_id"), str(raw.get("operation")))


@dataclass
class TasksState:
    cursor: str | None = None  # `until` of the last System Log query: the next run reads from here
    seen_events: dict[str, str] = field(default_factory=dict)  # uuid -> published, inside the overlap window
    last_full_scan: str | None = None
    app_user_count: int = 0  # as of the last full scan: sizes the incremental-vs-full decision
    failures: dict[str, Failure] = field(default_factory=dict)
    # Latest provisioning event per user whose latest event was a failure (reason, operation, when).
    last_events: dict[str, EventSummary] = field(default_factory=dict)
    attempts: dict[str, RetryAttempts] = field(default_factory=dict)
    dismissed: dict[str, Dismissal] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
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
        attempts = self.attempts.get(user_id)
        return attempts.count if attempts is not None else 0

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
            "attempts": {uid: a.to_json() for uid, a in self.attempts.items()},
            "dismissed": {uid: d.to_json() for uid, d in self.dismissed.items()},
            "outbox": [m.to_json() for m in self.outbox[-OUTBOX_LIMIT:]],
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
            attempts={uid: RetryAttempts.from_json(a) for uid, a in (raw.get("attempts") or {}).items()},
            dismissed={uid: Dismissal.from_json(d) for uid, d in (raw.get("dismissed") or {}).items()},
            outbox=[OutboxMessage.from_json(m) for m in raw.get("outbox") or []],
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
