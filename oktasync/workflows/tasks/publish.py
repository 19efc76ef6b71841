"""What a `tasks` run or an event-hook delivery tells the outside: queued notifications and the metrics.

Shared by the poll (``run.py``) and the event-hook receiver (``workflows/hooks/apply.py``), so both announce
a failure, a recovery and a retry Okta did not act on with the same bodies, through the same outbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx

from oktasync.config import TenantConfig
from oktasync.config.secret import Secret
from oktasync.models import App
from oktasync.timestamps import parse_time
from oktasync.workflows.tasks.metrics import AppMetrics
from oktasync.workflows.tasks.model import DEACTIVATE, Failure, Resolution, RetryOutcome
from oktasync.workflows.tasks.notify import DeliveryFailure, Notifier, deliver, detect_kind, new_message
from oktasync.workflows.tasks.state import TasksState


def notifiers_for(config: TenantConfig, extra_urls: tuple[Secret, ...] = ()) -> list[Notifier]:
    """The configured notification targets plus ``--notify`` URLs, each once."""
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


def _app_ref(config: TenantConfig, app: App) -> dict[str, Any]:
    return {"tenant": config.tenant, "app": {"id": app.id, "label": app.label}}


def failure_body(config: TenantConfig, app: App, failure: Failure, console: str, at: str) -> dict[str, Any]:
    return {
        **_app_ref(config, app),
        "user": {"id": failure.user_id, "login": failure.login, "email": failure.email},
        "operation": failure.operation,
        "assigned_via": failure.assigned_via,
        "reason": {"okta": failure.okta_message, "target": failure.target_message},
        "failed_at": failure.failed_at,
        "console_url": console,
        "at": at,
    }


def resolution_body(config: TenantConfig, app: App, resolution: Resolution) -> dict[str, Any]:
    return {
        **_app_ref(config, app),
        "user": {"id": resolution.user_id, "login": resolution.login},
        "operation": resolution.operation,
        "how": resolution.how,
        "at": resolution.at,
    }


def not_taken_body(config: TenantConfig, app: App, outcome: RetryOutcome, at: str) -> dict[str, Any]:
    return {
        **_app_ref(config, app),
        "user": {"id": outcome.user_id, "login": outcome.login},
        "operation": outcome.operation,
        "outcome": outcome.outcome,
        "detail": outcome.detail,
        "console_steps": outcome.console_steps,
        "console_url": outcome.console_url,
        "at": at,
    }


def queue_messages(
    state: TasksState,
    notifiers: Iterable[Notifier],
    *,
    failures: Iterable[dict[str, Any]] = (),
    not_taken: Iterable[dict[str, Any]] = (),
    recoveries: Iterable[dict[str, Any]] = (),
) -> None:
    """One outbox entry per body per target; the caller saves ``state`` in the same write that makes the
    failures known, so each is announced exactly once per target whatever happens to the delivery."""
    batches = (
        ("failure", list(failures)),
        ("retry_not_taken", list(not_taken)),
        ("recovery", list(recoveries)),
    )
    for notifier in notifiers:
        for event, bodies in batches:
            state.outbox.extend(new_message(event, body, notifier.id) for body in bodies)


async def send_outbox(
    state: TasksState, notifiers: list[Notifier], http_client: httpx.AsyncClient | None
) -> tuple[int, list[DeliveryFailure]]:
    """Deliver what the outbox holds (kept there until a target answers 2xx); counts into ``state``."""
    if not state.outbox:
        return 0, []
    state.outbox, delivered, failed = await deliver(state.outbox, notifiers, client=http_client)
    state.bump("notifications_failed_total", len(failed))
    state.bump("notifications_delivered_total", delivered)
    return delivered, failed


def app_metrics(
    config: TenantConfig, app: App, state: TasksState, *, api_calls: int, last_success: datetime | None = None
) -> AppMetrics:
    """The `tasks` gauges and counters of this app as ``state`` holds them now (``last_success``: the run's
    end; by default the state's last successful run)."""
    by_op: dict[str, int] = {}
    for failure in state.failures.values():
        by_op[failure.operation] = by_op.get(failure.operation, 0) + 1
    exhausted = sum(
        1
        for uid, f in state.failures.items()
        if f.operation != DEACTIVATE and state.attempt_count(uid) >= config.tasks.retry.max_attempts
    )
    if last_success is None and state.last_success:
        last_success = parse_time(state.last_success)
    return AppMetrics(
        tenant=config.tenant,
        app=app.label,
        app_id=app.id,
        failed=by_op,
        retried_total=state.counters.get("retried_total", 0),
        retry_not_taken_total=state.counters.get("retry_not_taken_total", 0),
        recovered_total=state.counters.get("recovered_total", 0),
        retry_exhausted=exhausted,
        notifications_pending=len(state.outbox),
        notifications_failed_total=state.counters.get("notifications_failed_total", 0),
        last_success=last_success.timestamp() if last_success else None,
        api_calls=api_calls,
    )
