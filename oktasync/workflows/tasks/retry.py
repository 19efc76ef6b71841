"""Re-trigger failed pushes through public API operations only, then wait for each to settle.

What each operation can be retried with (sources in docs/tasks.md "How retries work"):

* **create / update** — ``POST /api/v1/apps/{appId}/users/{userId}`` (``updateApplicationUser``) with the app
  user's *current* profile. Updating an app user's profile is a profile change Okta pushes to the target when
  *Update User Attributes* is on; for a user never created on the target (no ``externalId``) Okta's pending
  create runs again. ⚠ Okta does not document "re-POSTing an unchanged profile causes a push"; the emulator
  models it that way and we prove every retry by polling ``syncState`` and reading the System Log, never by
  the 2xx.
* **unassign + reassign** — never: for a GROUP-scoped user Okta answers 403 ``E0000046`` (DESIGN.md §6), and
  for a direct user, with *Deactivate Users* on, the unassign deactivates the account in the target first
  (okta-api.md §1.4). The gateway offers no such operation on purpose.
* **deactivate** — cannot be retried by API: the app user is already gone (so there is nothing to update) and
  the Tasks page's *Retry* is Admin Console only; there is no public Tasks API (okta-api.md §1.7).

Attempts are counted per user across runs (``tasks.retry.max_attempts``) and saved *before* each write, so a
run killed mid-retry still counts it; a user's count is cleared when the user recovers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from oktasync.errors import OktaApiError
from oktasync.okta_gateway.base import OktaGateway
from oktasync.workflows.progress import Progress
from oktasync.workflows.tasks.model import (
    CANNOT_RETRY,
    DEACTIVATE,
    ERROR,
    EXHAUSTED,
    NOT_SETTLED,
    RECOVERED,
    STILL_FAILING,
    Failure,
    RetryOutcome,
    iso,
)
from oktasync.workflows.tasks.scan import NULL_PROGRESS, event_user, read_events, summarize
from oktasync.workflows.tasks.state import TasksState

log = logging.getLogger("oktasync.tasks")

UNASSIGNED = "unassigned"  # the user left the app while we retried: nothing left to push
Sleep = Callable[[float], Awaitable[None]]

DEACTIVATE_WHY = (
    "Okta has no public API that re-sends a deactivation: the app user is already unassigned, so there is "
    "nothing to update, and the Tasks page's Retry exists only in the Admin Console (no public Tasks API). "
    "Retry it there, or deactivate the account in the target by hand."
)


async def retry_failures(
    gateway: OktaGateway,
    app_id: str,
    failures: list[Failure],
    state: TasksState,
    *,
    max_attempts: int,
    settle_timeout: float,
    console_url: str,
    save: Callable[[], None],
    poll_interval: float = 1.0,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    wallclock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress = NULL_PROGRESS,
) -> tuple[list[RetryOutcome], dict[str, dict[str, object]]]:
    """Retry every failure that may be retried; return the outcome per user and the fresh failure events
    (user id -> event summary) read while settling, so the report shows the latest reason."""
    outcomes: dict[str, RetryOutcome] = {}
    pending: dict[str, Failure] = {}
    seen_syncing: set[str] = set()
    started = wallclock()
    for failure in failures:
        uid = failure.user_id
        done = state.attempt_count(uid)
        if failure.operation == DEACTIVATE:
            outcomes[uid] = RetryOutcome.of(failure, CANNOT_RETRY, done, DEACTIVATE_WHY, console_url)
            continue
        if done >= max_attempts:
            outcomes[uid] = RetryOutcome.of(
                failure,
                EXHAUSTED,
                done,
                f"not retried: {done} attempt(s) already made (tasks.retry.max_attempts = {max_attempts}); "
                "fix the cause, then retry in the Admin Console or raise max_attempts",
                console_url,
                failure.sync_state,
            )
            continue
        pending[uid] = failure

    progress.start("tasks: retrying", total=len(pending))
    for uid, failure in list(pending.items()):
        current = await gateway.get_app_user(app_id, uid)
        if current is None:
            outcomes[uid] = RetryOutcome.of(
                failure,
                UNASSIGNED,
                state.attempt_count(uid),
                "no longer assigned to the app",
            )
            del pending[uid]
            continue
        if current.sync_state != "ERROR":
            # Already being pushed again (or pushed) since the scan: just wait for it, no attempt spent.
            seen_syncing.add(uid)
            continue
        count = state.attempt_count(uid) + 1
        state.attempts[uid] = {"count": count, "last": iso(wallclock()), "operation": failure.operation}
        state.bump("retried_total")
        save()  # the attempt is on disk before the write it counts
        try:
            updated = await gateway.update_app_user(app_id, uid, dict(current.profile))
        except OktaApiError as error:
            outcomes[uid] = RetryOutcome.of(
                failure,
                ERROR,
                count,
                f"the retry call failed: {error.message}",
                console_url,
            )
            del pending[uid]
            continue
        if updated.sync_state == "SYNCING":
            seen_syncing.add(uid)
        progress.advance("tasks: retrying")
    progress.finish("tasks: retrying")

    fresh: dict[str, dict[str, object]] = {}
    deadline = clock() + settle_timeout
    if pending:
        progress.note(f"waiting up to {settle_timeout:g}s for {len(pending)} push(es) to settle")
    while pending:
        unsettled_error: list[str] = []
        for uid in list(pending):
            if uid in outcomes:
                pending.pop(uid)
                continue
            au = await gateway.get_app_user(app_id, uid)
            failure = pending[uid]
            count = state.attempt_count(uid)
            if au is None:
                outcomes[uid] = RetryOutcome.of(failure, UNASSIGNED, count, "no longer assigned to the app")
            elif au.sync_state == "SYNCHRONIZED":
                outcomes[uid] = RetryOutcome.of(failure, RECOVERED, count, sync_state=au.sync_state)
            elif au.sync_state == "SYNCING":
                seen_syncing.add(uid)
                continue
            elif au.sync_state == "ERROR" and uid in seen_syncing:
                outcomes[uid] = RetryOutcome.of(
                    failure,
                    STILL_FAILING,
                    count,
                    "the push failed again",
                    console_url,
                    au.sync_state,
                )
            elif au.sync_state == "ERROR":
                unsettled_error.append(uid)  # no SYNCING seen: did the push run yet? the log tells
                continue
            else:
                outcomes[uid] = RetryOutcome.of(
                    failure,
                    STILL_FAILING,
                    count,
                    f"syncState is {au.sync_state} (is provisioning switched on?)",
                    console_url,
                    au.sync_state,
                )
            pending.pop(uid)
        if unsettled_error:
            for event in await read_events(gateway, app_id, iso(started), iso(wallclock())):
                user = event_user(event)
                if user and str(user["id"]) in unsettled_error and event.result == "FAILURE":
                    uid = str(user["id"])
                    failure = pending.pop(uid)
                    outcomes[uid] = RetryOutcome.of(
                        failure,
                        STILL_FAILING,
                        state.attempt_count(uid),
                        "the push failed again",
                        console_url,
                        "ERROR",
                    )
        if not pending:
            break
        remaining = deadline - clock()
        if remaining <= 0:
            for uid, failure in pending.items():
                outcomes[uid] = RetryOutcome.of(
                    failure,
                    NOT_SETTLED,
                    state.attempt_count(uid),
                    f"no result within {settle_timeout:g}s (tasks.retry.settle_timeout_seconds); "
                    "the next run reads the outcome from the System Log",
                    console_url,
                )
            break
        await sleep(min(poll_interval, remaining))

    still = [uid for uid, o in outcomes.items() if o.outcome in (STILL_FAILING, NOT_SETTLED)]
    if still:
        for event in await read_events(gateway, app_id, iso(started), iso(wallclock())):
            user = event_user(event)
            if user and str(user["id"]) in still:
                fresh[str(user["id"])] = summarize(event, user)
    ordered = [outcomes[f.user_id] for f in failures if f.user_id in outcomes]
    return ordered, fresh
