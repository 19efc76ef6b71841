"""One `tasks` run for one tenant+app: scan, optionally retry, notify, count. No printing, no click."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from oktasync.config import TenantConfig
from oktasync.config.secret import Secret
from oktasync.errors import EXIT_CHANGES, EXIT_FAILED, EXIT_OK
from oktasync.models import App
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import Progress
from oktasync.state import exclusive_lock
from oktasync.timestamps import okta_time
from oktasync.workflows.tasks.metrics import AppMetrics
from oktasync.workflows.tasks.model import (
    DEACTIVATE,
    ERROR,
    NOT_TAKEN,
    RECOVERED,
    EventSummary,
    Failure,
    Resolution,
    RetryOutcome,
    ScanStats,
    admin_tasks_url,
    split_reason,
)
from oktasync.workflows.tasks.notify import DeliveryFailure, Notifier
from oktasync.workflows.tasks.publish import (
    app_metrics,
    failure_body,
    not_taken_body,
    notifiers_for,
    queue_messages,
    resolution_body,
    send_outbox,
)
from oktasync.workflows.tasks.retry import UNASSIGNED, RetryContext, Sleep, retry_failures
from oktasync.workflows.tasks.scan import NULL_PROGRESS, scan
from oktasync.workflows.tasks.state import LOCK_FILE, Dismissal, TasksState, load_state, save_state


@dataclass(frozen=True)
class TasksOptions:
    retry: bool = False
    lookback: timedelta = timedelta(days=7)  # first run: how far back the System Log is read
    full_scan_interval: timedelta = timedelta(hours=1)
    force_full: bool = False
    notify_urls: tuple[Secret, ...] = ()  # --notify URL (kind detected from the URL)
    dismiss: tuple[str, ...] = ()  # user ids, logins or emails to drop from the list (recorded)
    poll_interval: float = 1.0


@dataclass(frozen=True)
class TasksResult:
    tenant: str
    app_id: str
    app_label: str
    console_url: str
    at: str
    mode: str
    failures: tuple[Failure, ...]
    new_failures: tuple[str, ...]
    resolutions: tuple[Resolution, ...]
    retried: bool
    retries: tuple[RetryOutcome, ...]
    exhausted: tuple[str, ...]  # user ids at tasks.retry.max_attempts that still fail
    dismissed: tuple[str, ...]
    notes: tuple[str, ...]
    notifications_delivered: int
    notification_failures: tuple[DeliveryFailure, ...]
    notifications_pending: int
    scan: dict[str, Any]
    api_calls: int
    metrics: AppMetrics = field(repr=False, compare=False)

    @property
    def retry_errors(self) -> tuple[RetryOutcome, ...]:
        return tuple(r for r in self.retries if r.outcome == ERROR)

    def retry_summary(self) -> dict[str, int]:
        """How many retries ended in each outcome (``recovered`` and ``still_failing`` are read back; an
        attempt with no sign of a new push is ``not_taken``)."""
        counts: dict[str, int] = {}
        for outcome in self.retries:
            counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
        return counts

    def exit_code(self, detailed: bool = False) -> int:
        """1 when retries are exhausted or a retry call failed (with --retry); else 2 while failures remain
        (with --detailed-exitcode); else 0 (README, "Exit codes")."""
        if self.retried and (self.exhausted or self.retry_errors):
            return EXIT_FAILED
        if detailed and self.failures:
            return EXIT_CHANGES
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "app": {"id": self.app_id, "label": self.app_label},
            "at": self.at,
            "console_url": self.console_url,
            "failed": len(self.failures),
            "failures": [
                {
                    **f.to_dict(),
                    "new": f.user_id in self.new_failures,
                    "retry_exhausted": f.user_id in self.exhausted,
                }
                for f in self.failures
            ],
            "resolved": [r.to_dict() for r in self.resolutions],
            "retry": [r.to_dict() for r in self.retries] if self.retried else None,
            "retry_summary": self.retry_summary() if self.retried else None,
            "dismissed": list(self.dismissed),
            "notifications": {
                "delivered": self.notifications_delivered,
                "pending": self.notifications_pending,
                "failed": [f.to_dict() for f in self.notification_failures],
            },
            "scan": self.scan,
            "api_calls": self.api_calls,
            "notes": list(self.notes),
        }


@contextlib.contextmanager
def tasks_lock(app_dir: Path, tenant: str, app_label: str) -> Iterator[None]:
    """One poller per tenant+app (exit 4 for the second, via LockedError)."""
    with exclusive_lock(app_dir / LOCK_FILE, f"oktasync tasks for {tenant}/{app_label}"):
        yield


def _first_not_taken(
    retries: list[RetryOutcome], state: TasksState, current: dict[str, Failure]
) -> list[RetryOutcome]:
    """The ``not_taken`` retries to announce: once per user until it recovers (a later attempt that does not
    take either is counted, not announced again)."""
    news = []
    for outcome in retries:
        record = state.attempts.get(outcome.user_id)
        if outcome.outcome != NOT_TAKEN or outcome.user_id not in current or record is None:
            continue
        if not record.not_taken_announced:
            state.attempts[outcome.user_id] = replace(record, not_taken_announced=True)
            news.append(outcome)
    return news


def _matches(failure: Failure, ref: str) -> bool:
    ref = ref.strip().lower()
    return ref in {failure.user_id.lower(), (failure.login or "").lower(), (failure.email or "").lower()}


async def run_tasks(
    config: TenantConfig,
    gateway: OktaGateway,
    app: App,
    *,
    app_dir: Path,
    options: TasksOptions = TasksOptions(),
    progress: Progress = NULL_PROGRESS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    http_client: httpx.AsyncClient | None = None,
) -> TasksResult:
    """Find (and with ``options.retry`` retry) the app's failed assignments, notify, and record the run.

    The caller holds ``tasks_lock``. State is saved before every retry write and once the run's failures
    and outbox are known, so a run killed at any point neither loses a notification nor an attempt count.
    """
    calls_before = gateway.request_count()
    started = now()
    run = _TasksRun(config, app, app_dir, options, at=okta_time(started))
    current, resolutions, stats = await run.find_failures(gateway, started, progress)
    retries: list[RetryOutcome] = []
    if options.retry and current:
        retries = await run.retry(gateway, current, resolutions, _Clocks(now, sleep, clock), progress)
    exhausted = run.forget_recovered_attempts(current)

    notifiers = notifiers_for(config, options.notify_urls)
    new_failures = run.record_failures(current, resolutions, retries, notifiers)
    delivered, failures_sent = await send_outbox(run.state, notifiers, http_client)
    finished = now()
    run.state.last_success = okta_time(finished)
    run.save()

    api_calls = gateway.request_count() - calls_before
    return TasksResult(
        tenant=config.tenant,
        app_id=app.id,
        app_label=app.label,
        console_url=run.console,
        at=run.at,
        mode=stats.mode,
        failures=tuple(sorted(current.values(), key=lambda f: (f.login or "", f.user_id))),
        new_failures=new_failures,
        resolutions=tuple(resolutions),
        retried=options.retry,
        retries=tuple(retries),
        exhausted=exhausted,
        dismissed=tuple(run.dismissed_now),
        notes=tuple(run.notes),
        notifications_delivered=delivered,
        notification_failures=tuple(failures_sent),
        notifications_pending=len(run.state.outbox),
        scan=_scan_summary(stats),
        api_calls=api_calls,
        metrics=app_metrics(config, app, run.state, api_calls=api_calls, last_success=finished),
    )


@dataclass(frozen=True)
class _Clocks:
    """Wall clock, sleep and monotonic clock of a run (tests give fake ones)."""

    now: Callable[[], datetime]
    sleep: Sleep
    monotonic: Callable[[], float]


class _TasksRun:
    """The state of one `tasks` run between its steps: the app's state dir, the notes, the dismissals."""

    def __init__(
        self, config: TenantConfig, app: App, app_dir: Path, options: TasksOptions, *, at: str
    ) -> None:
        self.config, self.app, self.app_dir, self.options = config, app, app_dir, options
        self.at, self.console = at, admin_tasks_url(config.okta.org_url)
        self.state: TasksState = load_state(app_dir)
        self.previous = dict(self.state.failures)
        self.notes: list[str] = []
        self.dismissed_now: list[str] = []

    def save(self) -> None:
        save_state(self.app_dir, self.state)

    async def find_failures(
        self, gateway: OktaGateway, started: datetime, progress: Progress
    ) -> tuple[dict[str, Failure], list[Resolution], ScanStats]:
        """The app's current failures (less the dismissed ones), what resolved since the last run, and how
        they were found."""
        options = self.options
        current, resolutions, stats = await scan(
            gateway,
            self.app.id,
            self.state,
            now=started,
            lookback=options.lookback,
            full_scan_interval=options.full_scan_interval,
            force_full=options.force_full,
            progress=progress,
        )
        self.notes.extend(stats.notes)
        return current, self.apply_dismissals(current, resolutions), stats

    def apply_dismissals(
        self, current: dict[str, Failure], resolutions: list[Resolution]
    ) -> list[Resolution]:
        """Dismissals: an operator's "handled outside oktasync" for one failure event (a new failure of the
        same user is listed again). Drops dismissed users from ``current``; returns the resolutions."""
        for ref in self.options.dismiss:
            hits = [f for f in current.values() if _matches(f, ref)]
            if not hits:
                self.notes.append(f"--dismiss {ref}: not a current failure")
            for failure in hits:
                self.state.dismissed[failure.user_id] = Dismissal(
                    self.at, failure.event_id, failure.operation
                )
                self.dismissed_now.append(failure.user_id)
        for uid, record in list(self.state.dismissed.items()):
            listed = current.get(uid)
            if listed is None or listed.event_id != record.event_id:
                self.state.dismissed.pop(uid)
                continue
            current.pop(uid)
            if uid in self.previous:
                resolutions = [r for r in resolutions if r.user_id != uid]
                resolutions.append(Resolution(uid, listed.login, listed.operation, "dismissed", self.at))
        return resolutions

    async def retry(
        self,
        gateway: OktaGateway,
        current: dict[str, Failure],
        resolutions: list[Resolution],
        clocks: _Clocks,
        progress: Progress,
    ) -> list[RetryOutcome]:
        """Attempt the failures (oldest first) and take what was read back into ``current``."""
        retry = self.config.tasks.retry
        retries, fresh = await retry_failures(
            gateway,
            self.app.id,
            sorted(current.values(), key=lambda f: (f.failed_at or "", f.user_id)),
            self.state,
            max_attempts=retry.max_attempts,
            settle_timeout=retry.settle_timeout_seconds,
            context=RetryContext(self.app.label, self.console),
            save=self.save,
            poll_interval=self.options.poll_interval,
            sleep=clocks.sleep,
            clock=clocks.monotonic,
            wallclock=clocks.now,
            progress=progress,
        )
        self.apply_retries(current, resolutions, retries, fresh, clocks.now)
        return retries

    def apply_retries(
        self,
        current: dict[str, Failure],
        resolutions: list[Resolution],
        retries: list[RetryOutcome],
        fresh: dict[str, EventSummary],
        now: Callable[[], datetime],
    ) -> None:
        """Take the retries' outcomes into ``current`` and ``resolutions``: a recovered or unassigned user
        leaves the list, a user that failed again carries the new failure event."""
        for outcome in retries:
            uid = outcome.user_id
            if outcome.outcome in (RECOVERED, UNASSIGNED) and uid in current:
                old = current.pop(uid)
                if uid in self.previous:
                    how = "recovered" if outcome.outcome == RECOVERED else "unassigned"
                    resolutions.append(Resolution(uid, old.login, old.operation, how, okta_time(now())))
                self.state.last_events.pop(uid, None)
        for uid, event in fresh.items():
            if uid in current and event.get("result") == "FAILURE":
                self.state.last_events[uid] = event
                current[uid] = _failed_again(current[uid], event)
        self.state.bump("retry_not_taken_total", sum(1 for r in retries if r.outcome == NOT_TAKEN))

    def forget_recovered_attempts(self, current: dict[str, Failure]) -> tuple[str, ...]:
        """A user who no longer fails starts again from zero attempts next time. Returns the users at
        ``tasks.retry.max_attempts`` that still fail."""
        for uid in list(self.state.attempts):
            if uid not in current:
                self.state.attempts.pop(uid)
        max_attempts = self.config.tasks.retry.max_attempts
        return tuple(
            uid
            for uid, f in sorted(current.items())
            if f.operation != DEACTIVATE and self.state.attempt_count(uid) >= max_attempts
        )

    def record_failures(
        self,
        current: dict[str, Failure],
        resolutions: list[Resolution],
        retries: list[RetryOutcome],
        notifiers: list[Notifier],
    ) -> tuple[str, ...]:
        """Store the failures and queue one message per new failure, per first ``not_taken`` retry and per
        resolution of a known failure, in the same state write. Returns the new failures' user ids."""
        config, app = self.config, self.app
        new_failures = tuple(uid for uid in sorted(current) if uid not in self.previous)
        queue_messages(
            self.state,
            notifiers,
            failures=[failure_body(config, app, current[uid], self.console, self.at) for uid in new_failures],
            not_taken=[
                not_taken_body(config, app, outcome, self.at)
                for outcome in _first_not_taken(retries, self.state, current)
            ],
            recoveries=[resolution_body(config, app, resolution) for resolution in resolutions],
        )
        self.state.failures = current
        self.state.bump("recovered_total", sum(1 for r in resolutions if r.how == "recovered"))
        self.save()
        return new_failures


def _failed_again(known: Failure, event: EventSummary) -> Failure:
    """``known`` with the failure event a retry read back."""
    okta, target = split_reason(event.get("reason"))
    return replace(
        known,
        operation=str(event.get("operation") or known.operation),
        operation_source="log" if event.get("operation") else known.operation_source,
        failed_at=event.get("published"),
        reason=event.get("reason"),
        okta_message=okta,
        target_message=target,
        event_id=event.get("uuid"),
        sync_state="ERROR" if known.operation != DEACTIVATE else None,
    )


def _scan_summary(stats: ScanStats) -> dict[str, Any]:
    return {
        "mode": stats.mode,
        "since": stats.since,
        "until": stats.until,
        "events_read": stats.events_read,
        "app_users_read": stats.app_users_read,
        "single_reads": stats.lookups,
        "groups_read": stats.groups_read,
    }
