"""Attempt to re-trigger failed pushes through the public API, and prove each attempt by reading it back.

What the API offers (docs/okta-behaviour.md, "Retrying failed provisioning"):

* **create / update** — ``POST /api/v1/apps/{appId}/users/{userId}`` (``updateApplicationUser``) with the app
  user's *current* profile. Nothing public says that this re-pushes a user in ``syncState: ERROR``: Okta's
  own remedy is Dashboard > Tasks > Retry Selected in the Admin Console (no public Tasks API). So the POST is
  only an *attempt*. Its effect is read back within ``settle_timeout`` (paced polls of ``syncState``, and the
  System Log): ``SYNCHRONIZED`` is a recovery; ``SYNCING`` seen, or a new failure event, then ``ERROR`` is a
  push that ran and failed again; no sign of a new push at all is ``not_taken``, reported with the console
  steps. A 2xx alone never counts as "retried".
* **unassign + reassign** — never: for a GROUP-scoped user Okta answers 403 ``E0000046``, and for a direct
  user, with *Deactivate Users* on, the unassign deactivates the account in the target first. The gateway
  offers no such operation on purpose.
* **deactivate** — cannot be retried by API: the app user is already gone (so there is nothing to update) and
  the Tasks page's *Retry* is Admin Console only.

Attempts are counted per user across runs (``tasks.retry.max_attempts``) and saved *before* each write, so a
run killed mid-retry still counts it; a user's count is cleared when the user recovers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from oktasync.errors import OktaApiError
from oktasync.models import AppUser
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import Progress
from oktasync.timestamps import okta_time
from oktasync.workflows.tasks.model import (
    CANNOT_RETRY,
    DEACTIVATE,
    ERROR,
    EXHAUSTED,
    NEEDS_CONSOLE,
    NOT_SETTLED,
    NOT_TAKEN,
    OPERATIONS,
    RECOVERED,
    STILL_FAILING,
    EventSummary,
    Failure,
    RetryOutcome,
    console_steps,
)
from oktasync.workflows.tasks.scan import (
    NULL_PROGRESS,
    event_app_user,
    event_user,
    merge_failure,
    read_events,
    summarize,
)
from oktasync.workflows.tasks.state import RetryAttempts, TasksState

log = logging.getLogger("oktasync.tasks")

UNASSIGNED = "unassigned"  # the user left the app while we retried: nothing left to push
READS_PER_SECOND = 10  # average app-user reads while reading attempts back (the gateway paces on top)
LOG_POLL_SECONDS = 10.0  # System Log reads while an attempt shows no sign of a push
Sleep = Callable[[float], Awaitable[None]]

DEACTIVATE_WHY = (
    "Okta has no public API that re-sends a deactivation: the app user is already unassigned, so there is "
    "nothing to update, and the Tasks page's Retry exists only in the Admin Console (no public Tasks API). "
    "Retry it there, or deactivate the account in the target by hand."
)


@dataclass
class _Attempt:
    """One user whose push we tried to re-trigger, and what we have seen of it since."""

    failure: Failure
    user_name: str | None  # credentials.userName: matches the AppUser target of an event without a User
    push_seen: bool = False  # syncState SYNCING (a push in flight) seen after the attempt
    events: list[EventSummary] = field(default_factory=list)  # this user's push events since


@dataclass(frozen=True)
class RetryContext:
    """What the outcomes need to name: the app and where its Tasks page is."""

    app_label: str
    console_url: str


async def retry_failures(
    gateway: OktaGateway,
    app_id: str,
    failures: list[Failure],
    state: TasksState,
    *,
    max_attempts: int,
    settle_timeout: float,
    context: RetryContext,
    save: Callable[[], None],
    poll_interval: float = 1.0,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    wallclock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress = NULL_PROGRESS,
) -> tuple[list[RetryOutcome], dict[str, EventSummary]]:
    """Attempt every failure that may be retried; return the outcome per user and the fresh failure events
    (user id -> event summary) read while settling, so the report shows the latest reason."""
    outcomes: dict[str, RetryOutcome] = {}

    def settle(failure: Failure, kind: str, detail: str | None = None, sync_state: str | None = None) -> None:
        steps = (
            console_steps(context.app_label, failure.login, failure.operation, context.console_url)
            if kind in NEEDS_CONSOLE
            else None
        )
        outcomes[failure.user_id] = RetryOutcome.of(
            failure,
            kind,
            state.attempt_count(failure.user_id),
            detail,
            context.console_url if steps else None,
            sync_state,
            steps,
        )

    candidates = _candidates(failures, state, max_attempts, settle)
    started = wallclock()
    attempts = await _attempt_all(gateway, app_id, candidates, state, save, settle, wallclock, progress)
    if attempts:
        progress.note(f"reading back {len(attempts)} attempt(s), for up to {settle_timeout:g}s")
    await _read_back(
        gateway, app_id, attempts, started, settle, settle_timeout, poll_interval, sleep, clock, wallclock
    )

    ordered = [outcomes[f.user_id] for f in failures if f.user_id in outcomes]
    return ordered, _fresh_failures(attempts, outcomes)


def _candidates(
    failures: list[Failure], state: TasksState, max_attempts: int, settle: Callable[..., None]
) -> list[Failure]:
    """The failures that may be attempted; the others are settled here (a deactivation cannot be
    re-sent; a user at ``max_attempts`` is not tried again)."""
    candidates: list[Failure] = []
    for failure in failures:
        done = state.attempt_count(failure.user_id)
        if failure.operation == DEACTIVATE:
            settle(failure, CANNOT_RETRY, DEACTIVATE_WHY)
        elif done >= max_attempts:
            settle(
                failure,
                EXHAUSTED,
                f"not retried: {done} attempt(s) already made (tasks.retry.max_attempts = {max_attempts})",
                failure.sync_state,
            )
        else:
            candidates.append(failure)
    return candidates


def _fresh_failures(
    attempts: dict[str, _Attempt], outcomes: dict[str, RetryOutcome]
) -> dict[str, EventSummary]:
    """The latest failure event of each attempted user that still fails (a failure keeps the reason of the
    failure it follows)."""
    fresh: dict[str, EventSummary] = {}
    for uid, attempt in attempts.items():
        latest: EventSummary | None = None
        for event in attempt.events:
            latest = merge_failure(latest, event) if event.get("result") == "FAILURE" else None
        if latest is not None and outcomes[uid].outcome in (STILL_FAILING, NOT_SETTLED):
            fresh[uid] = latest
    return fresh


async def _attempt_all(
    gateway: OktaGateway,
    app_id: str,
    candidates: list[Failure],
    state: TasksState,
    save: Callable[[], None],
    settle: Callable[..., None],
    wallclock: Callable[[], datetime],
    progress: Progress,
) -> dict[str, _Attempt]:
    """POST each candidate's current profile (counting the attempt first); the users now awaiting proof."""
    attempts: dict[str, _Attempt] = {}
    progress.start("tasks: retrying", total=len(candidates))
    for failure in candidates:
        uid = failure.user_id
        current = await gateway.get_app_user(app_id, uid)
        if current is None:
            settle(failure, UNASSIGNED, "no longer assigned to the app")
            continue
        attempt = _Attempt(failure, current.user_name)
        attempts[uid] = attempt
        if current.sync_state != "ERROR":
            # Already being pushed again (or pushed) since the scan: read it back, no attempt spent.
            attempt.push_seen = current.sync_state == "SYNCING"
            continue
        before = state.attempts.get(uid, RetryAttempts())
        state.attempts[uid] = replace(
            before, count=before.count + 1, last=okta_time(wallclock()), operation=failure.operation
        )
        state.bump("retried_total")
        save()  # the attempt is on disk before the write it counts
        try:
            updated = await gateway.update_app_user(app_id, uid, dict(current.profile))
        except OktaApiError as error:
            settle(failure, ERROR, f"the retry call failed: {error.message}")
            del attempts[uid]
            continue
        attempt.push_seen = updated.sync_state == "SYNCING"
        progress.advance("tasks: retrying")
    progress.finish("tasks: retrying")
    return attempts


async def _read_back(
    gateway: OktaGateway,
    app_id: str,
    attempts: dict[str, _Attempt],
    started: datetime,
    settle: Callable[..., None],
    settle_timeout: float,
    poll_interval: float,
    sleep: Sleep,
    clock: Callable[[], float],
    wallclock: Callable[[], datetime],
) -> None:
    """Poll each attempted user (paced, bounded by ``settle_timeout``) until its outcome is proven.

    ``syncState`` is read every round (a round lasts ``poll_interval``, longer when many users are pending:
    at most ``READS_PER_SECOND`` app-user reads a second on average); the System Log only while a user shows
    ``ERROR`` with no sign of a push, at most every ``LOG_POLL_SECONDS``, and once more before an attempt is
    called ``not_taken``.
    """
    pending = dict(attempts)
    deadline = clock() + settle_timeout
    next_log_read = clock()
    while pending:
        for uid, attempt in list(pending.items()):
            if _judge(attempt, await gateway.get_app_user(app_id, uid), settle):
                del pending[uid]
        remaining = deadline - clock()
        if pending and (clock() >= next_log_read or remaining <= 0):
            await _collect_events(gateway, app_id, attempts, started, wallclock)
            next_log_read = clock() + LOG_POLL_SECONDS
            for uid, attempt in list(pending.items()):
                if any(e.get("result") == "FAILURE" for e in attempt.events):
                    settle(attempt.failure, STILL_FAILING, "a push ran again and failed", "ERROR")
                    del pending[uid]
        if not pending or remaining <= 0:
            break
        await sleep(min(max(poll_interval, len(pending) / READS_PER_SECOND), remaining))
    for attempt in pending.values():
        if attempt.push_seen:
            settle(
                attempt.failure,
                NOT_SETTLED,
                f"a push started but had no result within {settle_timeout:g}s "
                "(tasks.retry.settle_timeout_seconds); the next run reads its outcome",
                "SYNCING",
            )
        else:
            settle(
                attempt.failure,
                NOT_TAKEN,
                "the profile update did not re-push the user: syncState stayed ERROR and the System Log "
                f"shows no new push within {settle_timeout:g}s. Retry it in the Admin Console.",
                "ERROR",
            )


def _judge(attempt: _Attempt, current: AppUser | None, settle: Callable[..., None]) -> bool:
    """Settle ``attempt`` if what we read proves its outcome; False while it is still open."""
    failure = attempt.failure
    if current is None:
        settle(failure, UNASSIGNED, "no longer assigned to the app")
        return True
    state = current.sync_state
    if state == "SYNCHRONIZED":
        settle(failure, RECOVERED, sync_state=state)
        return True
    if state == "SYNCING":
        attempt.push_seen = True
        return False
    if state == "ERROR" and attempt.push_seen:
        settle(failure, STILL_FAILING, "a push ran again and failed", state)
        return True
    if state not in ("ERROR", None):
        settle(failure, STILL_FAILING, f"syncState is {state} (is provisioning switched on?)", state)
        return True
    return False  # ERROR and no sign of a push yet: wait (bounded) for one


async def _collect_events(
    gateway: OktaGateway,
    app_id: str,
    attempts: dict[str, _Attempt],
    started: datetime,
    wallclock: Callable[[], datetime],
) -> None:
    """Attach each attempted user's push events since the first attempt (by ``User`` target, else by the
    ``AppUser`` target's app username)."""
    by_name = {a.user_name.lower(): uid for uid, a in attempts.items() if a.user_name}
    for attempt in attempts.values():
        attempt.events.clear()
    for event in await read_events(gateway, app_id, okta_time(started), okta_time(wallclock())):
        if event.event_type not in OPERATIONS:
            continue
        user = event_user(event)
        if user is not None:
            uid: str | None = str(user["id"])
        else:
            name = str((event_app_user(event) or {}).get("alternateId") or "").lower()
            uid = by_name.get(name)
        if uid in attempts:
            attempts[uid].events.append(summarize(event, user))
