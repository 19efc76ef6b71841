"""Apply delivered events to the `tasks` failure state: the same failures, outbox and counters as a poll.

The logic is the incremental scan of `tasks` (``apply_touched`` in ``workflows/tasks/scan.py``), fed by the
event hook instead of a System Log query: a failed create/update is confirmed by reading the app user (still
``syncState: ERROR``), a failed deactivation is taken from the event, a later success or a membership removal
resolves the user. A failure already known (found by a poll or an earlier delivery) is not announced again,
and event uuids already applied are skipped, which is what keeps the receiver and `tasks` from notifying
twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from oktasync.config import TenantConfig
from oktasync.models import App, LogEvent
from oktasync.okta_gateway.base import OktaGateway
from oktasync.timestamps import okta_time
from oktasync.workflows.hooks.events import event_user
from oktasync.workflows.tasks.model import EventSummary, Failure, Resolution, ScanStats, admin_tasks_url
from oktasync.workflows.tasks.notify import DeliveryFailure
from oktasync.workflows.tasks.publish import (
    failure_body,
    notifiers_for,
    queue_messages,
    resolution_body,
    send_outbox,
)
from oktasync.workflows.tasks.scan import (
    apply_touched,
    attribute_groups,
    merge_failure,
    remember_touched,
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
    now_iso = okta_time(now)
    fresh = [e for e in events if not state.knows_event(e.uuid)]
    touched = _touched_users(fresh, state)
    remember_touched(state, touched)
    previous = dict(state.failures)
    current, unassigned, _ = await apply_touched(gateway, app.id, touched, previous, now_iso)
    _drop_dismissed(state, current)
    current = await attribute_groups(gateway, app.id, current, ScanStats())
    resolutions = [
        Resolution(uid, old.login, old.operation, "unassigned" if uid in unassigned else "recovered", now_iso)
        for uid, old in previous.items()
        if uid not in current and uid not in state.dismissed
    ]
    new_failures = tuple(uid for uid in sorted(current) if uid not in previous)

    console = admin_tasks_url(config.okta.org_url)
    notifiers = notifiers_for(config)
    queue_messages(
        state,
        notifiers,
        failures=[failure_body(config, app, current[uid], console, now_iso) for uid in new_failures],
        recoveries=[resolution_body(config, app, resolution) for resolution in resolutions],
    )
    state.failures = current
    state.bump("recovered_total", sum(1 for r in resolutions if r.how == "recovered"))
    state.bump("hook_events_applied_total", len(fresh))
    state.remember_hook_events({e.uuid: e.published for e in fresh}, now)
    if save is not None:
        await save()

    delivered, failed = await send_outbox(state, notifiers, http_client)
    duplicates = len(events) - len(fresh)
    return Applied(len(fresh), duplicates, new_failures, tuple(resolutions), delivered, tuple(failed))


def _touched_users(fresh: list[LogEvent], state: TasksState) -> dict[str, EventSummary]:
    """Latest event per Okta user; a failure without a reason (a .sync failure) keeps the reason of the
    failure it follows."""
    touched: dict[str, EventSummary] = {}
    for event in fresh:
        user = event_user(event)
        if user is not None:
            uid = str(user["id"])
            earlier = touched.get(uid) or state.last_events.get(uid)
            touched[uid] = merge_failure(earlier, summarize(event, user))
    return touched


def _drop_dismissed(state: TasksState, current: dict[str, Failure]) -> None:
    """A failure an operator dismissed stays dismissed until it fails again (a new event)."""
    for uid in [u for u in list(state.dismissed) if u in current]:
        if current[uid].event_id == state.dismissed[uid].event_id:
            current.pop(uid)
