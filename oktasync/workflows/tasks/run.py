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
from oktasync.workflows.tasks.metrics import AppMetrics
from oktasync.workflows.tasks.model import (
    DEACTIVATE,
    ERROR,
    NOT_TAKEN,
    RECOVERED,
    Failure,
    Resolution,
    RetryOutcome,
    admin_tasks_url,
    iso,
    split_reason,
)
from oktasync.workflows.tasks.notify import DeliveryFailure, Notifier, deliver, detect_kind, new_message
from oktasync.workflows.tasks.retry import UNASSIGNED, RetryContext, Sleep, retry_failures
from oktasync.workflows.tasks.scan import NULL_PROGRESS, scan
from oktasync.workflows.tasks.state import LOCK_FILE, TasksState, load_state, save_state


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


def notifiers_for(config: TenantConfig, extra_urls: tuple[Secret, ...] = ()) -> list[Notifier]:
    out: list[Notifier] = []
    for target in config.tasks.notify:
        if target.webhook.reveal().strip():  # `{{ env.X | default('') }}` means "not configured here"
            out.append(Notifier(target.kind, target.webhook, target.allow_private_address))
    for url in extra_urls:
        if url.reveal().strip():
            out.append(Notifier(detect_kind(url.reveal()), url))
    unique: dict[str, Notifier] = {}
    for n in out:
        unique.setdefault(n.id, n)
    return list(unique.values())


def _failure_body(config: TenantConfig, app: App, failure: Failure, console: str, at: str) -> dict[str, Any]:
    return {
        "tenant": config.tenant,
        "app": {"id": app.id, "label": app.label},
        "user": {"id": failure.user_id, "login": failure.login, "email": failure.email},
        "operation": failure.operation,
        "assigned_via": failure.assigned_via,
        "reason": {"okta": failure.okta_message, "target": failure.target_message},
        "failed_at": failure.failed_at,
        "console_url": console,
        "at": at,
    }


def _resolution_body(config: TenantConfig, app: App, resolution: Resolution) -> dict[str, Any]:
    return {
        "tenant": config.tenant,
        "app": {"id": app.id, "label": app.label},
        "user": {"id": resolution.user_id, "login": resolution.login},
        "operation": resolution.operation,
        "how": resolution.how,
        "at": resolution.at,
    }


def _not_taken_body(config: TenantConfig, app: App, outcome: RetryOutcome, at: str) -> dict[str, Any]:
    return {
        "tenant": config.tenant,
        "app": {"id": app.id, "label": app.label},
        "user": {"id": outcome.user_id, "login": outcome.login},
        "operation": outcome.operation,
        "outcome": outcome.outcome,
        "detail": outcome.detail,
        "console_steps": outcome.console_steps,
        "console_url": outcome.console_url,
        "at": at,
    }


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
        if not record.get("not_taken_announced"):
            record["not_taken_announced"] = True
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
    at = iso(started)
    console = admin_tasks_url(config.okta.org_url)
    state: TasksState = load_state(app_dir)
    previous = dict(state.failures)

    def save() -> None:
        save_state(app_dir, state)

    current, resolutions, stats = await scan(
        gateway,
        app.id,
        state,
        now=started,
        lookback=options.lookback,
        full_scan_interval=options.full_scan_interval,
        force_full=options.force_full,
        progress=progress,
    )
    notes = list(stats.notes)

    # Dismissals: an operator's "handled outside oktasync" for one failure event (a new failure of the same
    # user is listed again).
    dismissed_now: list[str] = []
    for ref in options.dismiss:
        hits = [f for f in current.values() if _matches(f, ref)]
        if not hits:
            notes.append(f"--dismiss {ref}: not a current failure")
        for failure in hits:
            state.dismissed[failure.user_id] = {
                "at": at,
                "event_id": failure.event_id,
                "operation": failure.operation,
            }
            dismissed_now.append(failure.user_id)
    for uid, record in list(state.dismissed.items()):
        listed = current.get(uid)
        if listed is None or listed.event_id != record.get("event_id"):
            state.dismissed.pop(uid)
            continue
        current.pop(uid)
        if uid in previous:
            resolutions = [r for r in resolutions if r.user_id != uid]
            resolutions.append(Resolution(uid, listed.login, listed.operation, "dismissed", at))

    retries: list[RetryOutcome] = []
    if options.retry and current:
        ordered = sorted(current.values(), key=lambda f: (f.failed_at or "", f.user_id))
        retries, fresh = await retry_failures(
            gateway,
            app.id,
            ordered,
            state,
            max_attempts=config.tasks.retry.max_attempts,
            settle_timeout=config.tasks.retry.settle_timeout_seconds,
            context=RetryContext(app.label, console),
            save=save,
            poll_interval=options.poll_interval,
            sleep=sleep,
            clock=clock,
            wallclock=now,
            progress=progress,
        )
        for outcome in retries:
            uid = outcome.user_id
            if outcome.outcome in (RECOVERED, UNASSIGNED) and uid in current:
                old = current.pop(uid)
                if uid in previous:
                    how = "recovered" if outcome.outcome == RECOVERED else "unassigned"
                    resolutions.append(Resolution(uid, old.login, old.operation, how, iso(now())))
                state.last_events.pop(uid, None)
        for uid, event in fresh.items():
            if uid in current and event.get("result") == "FAILURE":
                state.last_events[uid] = event
                okta, target = split_reason(event.get("reason"))
                known = current[uid]
                current[uid] = replace(
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
        not_taken = [r for r in retries if r.outcome == NOT_TAKEN]
        state.bump("retry_not_taken_total", len(not_taken))

    # A user who no longer fails starts again from zero attempts next time.
    for uid in list(state.attempts):
        if uid not in current:
            state.attempts.pop(uid)
    max_attempts = config.tasks.retry.max_attempts
    exhausted = tuple(
        uid
        for uid, f in sorted(current.items())
        if f.operation != DEACTIVATE and state.attempt_count(uid) >= max_attempts
    )

    # Queue one message per new failure and per resolution of a known failure, in the same state write that
    # makes them known: exactly once per target, whatever happens to the delivery.
    notifiers = notifiers_for(config, options.notify_urls)
    new_failures = tuple(uid for uid in sorted(current) if uid not in previous)
    not_taken_news = _first_not_taken(retries, state, current)
    for notifier in notifiers:
        for uid in new_failures:
            body = _failure_body(config, app, current[uid], console, at)
            state.outbox.append(new_message("failure", body, notifier.id))
        for outcome in not_taken_news:
            body = _not_taken_body(config, app, outcome, at)
            state.outbox.append(new_message("retry_not_taken", body, notifier.id))
        for resolution in resolutions:
            body = _resolution_body(config, app, resolution)
            state.outbox.append(new_message("recovery", body, notifier.id))
    state.failures = current
    state.bump("recovered_total", sum(1 for r in resolutions if r.how == "recovered"))
    save()

    delivered, failures_sent = 0, list[DeliveryFailure]()
    if state.outbox:
        state.outbox, delivered, failures_sent = await deliver(state.outbox, notifiers, client=http_client)
        state.bump("notifications_failed_total", len(failures_sent))
        state.bump("notifications_delivered_total", delivered)
    finished = now()
    state.last_success = iso(finished)
    save()

    api_calls = gateway.request_count() - calls_before
    by_op: dict[str, int] = {}
    for failure in current.values():
        by_op[failure.operation] = by_op.get(failure.operation, 0) + 1
    metrics = AppMetrics(
        tenant=config.tenant,
        app=app.label,
        app_id=app.id,
        failed=by_op,
        retried_total=state.counters.get("retried_total", 0),
        retry_not_taken_total=state.counters.get("retry_not_taken_total", 0),
        recovered_total=state.counters.get("recovered_total", 0),
        retry_exhausted=len(exhausted),
        notifications_pending=len(state.outbox),
        notifications_failed_total=state.counters.get("notifications_failed_total", 0),
        last_success=finished.timestamp(),
        api_calls=api_calls,
    )
    failures_sorted = tuple(sorted(current.values(), key=lambda f: (f.login or "", f.user_id)))
    return TasksResult(
        tenant=config.tenant,
        app_id=app.id,
        app_label=app.label,
        console_url=console,
        at=at,
        mode=stats.mode,
        failures=failures_sorted,
        new_failures=new_failures,
        resolutions=tuple(resolutions),
        retried=options.retry,
        retries=tuple(retries),
        exhausted=exhausted,
        dismissed=tuple(dismissed_now),
        notes=tuple(notes),
        notifications_delivered=delivered,
        notification_failures=tuple(failures_sent),
        notifications_pending=len(state.outbox),
        scan={
            "mode": stats.mode,
            "since": stats.since,
            "until": stats.until,
            "events_read": stats.events_read,
            "app_users_read": stats.app_users_read,
            "single_reads": stats.lookups,
            "groups_read": stats.groups_read,
        },
        api_calls=api_calls,
        metrics=metrics,
    )
