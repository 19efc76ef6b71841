"""Apply delivered events to the `tasks` failure state: the same failures, outbox and counters as a poll.

The logic is the incremental scan of `tasks` (``workflows/tasks/scan.py``), fed by the event hook instead of
a System Log query: a failed create/update is confirmed by reading the app user (still ``syncState: ERROR``),
a failed deactivation is taken from the event, a later success or a membership removal resolves the user.
A failure already known (found by a poll or an earlier delivery) is not announced again, and event uuids
already applied are skipped, which is what keeps the receiver and `tasks` from notifying twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx

from oktasync.config import TenantConfig
from oktasync.models import App, LogEvent
from oktasync.okta_gateway.base import OktaGateway
from oktasync.workflows.hooks.events import event_user
from oktasync.workflows.tasks.metrics import AppMetrics
from oktasync.workflows.tasks.model import (
    CREATE,
    DEACTIVATE,
    MEMBERSHIP_REMOVE,
    UPDATE,
    Failure,
    Resolution,
    ScanStats,
    admin_tasks_url,
    iso,
)
from oktasync.workflows.tasks.notify import DeliveryFailure, deliver, new_message
from oktasync.workflows.tasks.run import _failure_body, _resolution_body, notifiers_for
from oktasync.workflows.tasks.scan import (
    _is_failure,
    attribute_groups,
    build_failure,
    merge_failure,
    summarize,
)
from oktasync.workflows.tasks.state import TasksState


@dataclass(frozen=True)
class Applied:
    """What one batch of delivered events changed."""

    events: int  # events applied (new uuids)
    duplicates: int  # events skipped: already applied by a poll or an earlier delivery
    new_failures: tuple[str, ...]
    resolutions: tuple[Resolution, ...]
    notifications_delivered: int
    notification_failures: tuple[DeliveryFailure, ...]


async def _current_failures(
    gateway: OktaGateway,
    app_id: str,
    touched: dict[str, dict[str, Any]],
    previous: dict[str, Failure],
    now_iso: str,
) -> tuple[dict[str, Failure], set[str]]:
    current, unassigned = dict(previous), set[str]()
    for uid, summary in touched.items():
        if _is_failure(summary, CREATE, UPDATE):
            prior = previous.get(uid)
            if prior is not None and prior.scope is not None:
                rebuilt = build_failure(
                    user_id=uid, app_user=None, event=summary, previous=prior, now=now_iso
                )
                current[uid] = replace(
                    rebuilt,
                    scope=prior.scope,
                    groups=prior.groups,
                    sync_state=prior.sync_state,
                    status=prior.status,
                )
                continue
            found = await gateway.get_app_user(app_id, uid)
            if found is None:
                current.pop(uid, None)
                unassigned.add(uid)
            elif found.sync_state == "ERROR":
                current[uid] = build_failure(
                    user_id=uid, app_user=found, event=summary, previous=prior, now=now_iso
                )
            else:
                current.pop(uid, None)  # pushed again (SYNCING/SYNCHRONIZED) since the event
        elif _is_failure(summary, DEACTIVATE):
            current[uid] = build_failure(
                user_id=uid, app_user=None, event=summary, previous=previous.get(uid), now=now_iso
            )
        else:
            current.pop(uid, None)
            if summary["type"] == MEMBERSHIP_REMOVE:
                unassigned.add(uid)
    return current, unassigned


async def apply_events(
    config: TenantConfig,
    gateway: OktaGateway,
    app: App,
    state: TasksState,
    events: list[LogEvent],
    *,
    now: datetime,
    http_client: httpx.AsyncClient | None = None,
    save: Callable[[], Awaitable[None]] | None = None,
) -> Applied:
    """Apply ``events`` (oldest first) to ``state``, queue and send the notifications. The caller holds the
    `tasks` lock and saves ``state`` afterwards; ``save`` (if given) is called once the outbox is queued,
    before anything is sent, so a crash during delivery loses no message."""
    now_iso = iso(now)
    fresh = [e for e in events if not state.knows_event(e.uuid)]
    duplicates = len(events) - len(fresh)
    touched: dict[str, dict[str, Any]] = {}
    for event in fresh:
        user = event_user(event)
        if user is not None:
            uid = str(user["id"])
            # A failure without a reason (a .sync failure) keeps the reason of the failure it follows.
            earlier = touched.get(uid) or state.last_events.get(uid)
            touched[uid] = merge_failure(earlier, summarize(event, user))
    for uid, summary in touched.items():
        if _is_failure(summary):
            state.last_events[uid] = summary
        else:
            state.last_events.pop(uid, None)
    previous = dict(state.failures)
    current, unassigned = await _current_failures(gateway, app.id, touched, previous, now_iso)
    for uid in [u for u in list(state.dismissed) if u in current]:
        if current[uid].event_id == state.dismissed[uid].get("event_id"):
            current.pop(uid)  # dismissed by an operator: stays dismissed until it fails again
    current = await attribute_groups(gateway, app.id, current, ScanStats())
    resolutions = [
        Resolution(uid, old.login, old.operation, "unassigned" if uid in unassigned else "recovered", now_iso)
        for uid, old in previous.items()
        if uid not in current and uid not in state.dismissed
    ]
    new_failures = tuple(uid for uid in sorted(current) if uid not in previous)

    console = admin_tasks_url(config.okta.org_url)
    notifiers = notifiers_for(config)
    for notifier in notifiers:
        for uid in new_failures:
            body = _failure_body(config, app, current[uid], console, now_iso)
            state.outbox.append(new_message("failure", body, notifier.id))
        for resolution in resolutions:
            state.outbox.append(
                new_message("recovery", _resolution_body(config, app, resolution), notifier.id)
            )
    state.failures = current
    state.bump("recovered_total", sum(1 for r in resolutions if r.how == "recovered"))
    state.bump("hook_events_applied_total", len(fresh))
    state.remember_hook_events({e.uuid: e.published for e in fresh}, now)
    if save is not None:
        await save()

    delivered, failed = 0, list[DeliveryFailure]()
    if state.outbox:
        state.outbox, delivered, failed = await deliver(state.outbox, notifiers, client=http_client)
        state.bump("notifications_failed_total", len(failed))
        state.bump("notifications_delivered_total", delivered)
    return Applied(len(fresh), duplicates, new_failures, tuple(resolutions), delivered, tuple(failed))


def metrics_of(config: TenantConfig, app: App, state: TasksState) -> AppMetrics:
    """The `tasks` gauges and counters of this app as the state holds them now."""
    by_op: dict[str, int] = {}
    for failure in state.failures.values():
        by_op[failure.operation] = by_op.get(failure.operation, 0) + 1
    exhausted = sum(
        1
        for uid, f in state.failures.items()
        if f.operation != DEACTIVATE and state.attempt_count(uid) >= config.tasks.retry.max_attempts
    )
    last = state.last_success
    return AppMetrics(
        tenant=config.tenant,
        app=app.label,
        app_id=app.id,
        failed=by_op,
        retried_total=state.counters.get("retried_total", 0),
        recovered_total=state.counters.get("recovered_total", 0),
        retry_exhausted=exhausted,
        notifications_pending=len(state.outbox),
        notifications_failed_total=state.counters.get("notifications_failed_total", 0),
        last_success=datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp() if last else None,
        api_calls=0,
    )
