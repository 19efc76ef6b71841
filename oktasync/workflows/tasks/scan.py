"""Find the failed assignments of one app: the app-user scan, System Log events since a cursor, or both.

Two modes, chosen per run (docs/tasks.md "Cost"):

* **full** — every app user at the maximum page size (``list_app_users``: 500 per page, okta-api.md §1.5) and
  keep those with ``syncState: ERROR``; the System Log tells operation, time and reason. Used on the first
  run, when the last full scan is older than ``full_scan_interval``, on ``--full-scan``, and whenever the
  incremental path would need more single reads than a full scan costs.
* **incremental** — only the System Log events since the cursor: a failure event adds the user (one
  ``get_app_user`` to confirm ``ERROR`` and read login/email/scope), a later success, removal or deactivation
  of that user resolves it. An app of 50,000 users costs ~100 app-user pages per full scan; an incremental
  run costs one log page plus one read per *new* failure.

The log query is bounded (``since``..``until``, okta-api.md §1.6): bounded queries end, polling queries never
do. Consecutive windows overlap by ``OVERLAP`` and events are de-duplicated by uuid, because Okta says events
may reach the log late ("Not all events for the specified time range may be present— events may be delayed",
System Log API reference, bounded requests).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from oktasync.errors import AuthError, NotFoundError
from oktasync.models import AppUser, LogEvent
from oktasync.okta_gateway.base import OktaGateway
from oktasync.workflows.progress import NullProgress, Progress
from oktasync.workflows.tasks.model import (
    CREATE,
    DEACTIVATE,
    EVENT_TYPES,
    MEMBERSHIP_REMOVE,
    OPERATIONS,
    UPDATE,
    Failure,
    Resolution,
    ScanStats,
    iso,
    parse_iso,
    split_reason,
)
from oktasync.workflows.tasks.state import TasksState

log = logging.getLogger("oktasync.tasks")
NULL_PROGRESS: Progress = NullProgress()

OVERLAP = timedelta(minutes=2)
APP_USER_PAGE = 500  # list_app_users page size (okta-api.md §1.5: limit 1..500)


def log_filters(app_id: str) -> list[str]:
    """One filter per event type, each ``target.id eq … and eventType eq …``.

    These are exactly the expressions the System Log API documents for ``filter`` (``eventType eq``,
    ``target.id eq``, joined by ``and``; okta-api.md §1.6). A single ``target.id`` query would also return
    every sign-in to the app, which on a 50,000-user app dwarfs the provisioning events. Both outcomes are
    read on purpose: a later SUCCESS of the same user is how an incremental run sees a recovery without
    reading every app user.
    """
    return [f'target.id eq "{app_id}" and eventType eq "{t}"' for t in EVENT_TYPES]


async def read_events(gateway: OktaGateway, app_id: str, since: str, until: str) -> list[LogEvent]:
    """This app's provisioning and membership-removal events in [since, until), oldest first."""
    events: list[LogEvent] = []
    for expression in log_filters(app_id):
        events += await gateway.list_log_events(since=since, until=until, filter=expression)
    kept = {
        e.uuid: e
        for e in events
        if e.event_type in EVENT_TYPES and any(t.get("id") == app_id for t in e.targets)
    }
    # In one millisecond, a removal precedes the deactivation push it causes; otherwise keep Okta's order.
    return sorted(kept.values(), key=lambda e: (parse_iso(e.published), e.event_type != MEMBERSHIP_REMOVE))


def event_user(event: LogEvent) -> dict[str, Any] | None:
    """The AppUser (else User) target of an event: Okta's user id, login (alternateId), display name."""
    for kind in ("AppUser", "User"):
        for target in event.targets:
            if target.get("type") == kind and target.get("id"):
                return target
    return None


def summarize(event: LogEvent, user: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": event.uuid,
        "type": event.event_type,
        "operation": OPERATIONS.get(event.event_type),
        "result": event.result,
        "published": event.published,
        "reason": event.reason,
        "login": user.get("alternateId"),
        "name": user.get("displayName"),
    }


def _is_failure(summary: dict[str, Any] | None, *operations: str) -> bool:
    return bool(
        summary
        and summary.get("result") == "FAILURE"
        and summary.get("operation") in (operations or OPERATIONS.values())
    )


def build_failure(
    *,
    user_id: str,
    app_user: AppUser | None,
    event: dict[str, Any] | None,
    previous: Failure | None,
    now: str,
) -> Failure:
    """One failure from what we know: the app user (if still assigned), its failure event, the last run."""
    if event and _is_failure(event):
        operation, source = str(event["operation"]), "log"
        reason, failed_at, event_id = event.get("reason"), event.get("published"), event.get("uuid")
    elif previous is not None:
        operation, source = previous.operation, previous.operation_source
        reason, failed_at, event_id = previous.reason, previous.failed_at, previous.event_id
    else:
        # No failure event in the window (older than the look-back, or log retention passed): a user never
        # created on the target (no externalId) failed its create, one that was created failed an update.
        operation = CREATE if app_user is not None and not app_user.external_id else UPDATE
        source, reason, event_id = "inferred", None, None
        failed_at = app_user.last_updated if app_user is not None else None
    okta, target = split_reason(reason)
    login = (
        (app_user.login if app_user else None)
        or (event or {}).get("login")
        or (previous.login if previous else None)
    )
    email = (app_user.email if app_user else None) or (previous.email if previous else None)
    return Failure(
        user_id=user_id,
        login=login,
        email=email,
        scope=app_user.scope if app_user else None,
        groups=previous.groups if previous and app_user and previous.scope == app_user.scope else (),
        operation=operation,
        operation_source=source,
        failed_at=failed_at,
        reason=reason,
        okta_message=okta,
        target_message=target,
        sync_state=app_user.sync_state if app_user else None,
        status=app_user.status if app_user else None,
        event_id=event_id,
        first_seen=previous.first_seen if previous else now,
    )


async def _groups_of_user(gateway: OktaGateway, user_id: str) -> list[str]:
    try:
        return await gateway.list_user_group_ids(user_id)
    except NotFoundError:
        return []  # the Okta user is gone: no group holds it (as a member listing would say)


async def attribute_groups(
    gateway: OktaGateway, app_id: str, failures: dict[str, Failure], stats: ScanStats
) -> dict[str, Failure]:
    """Fill ``groups`` for GROUP-scoped failures: which of the app's assigned groups hold the user, in
    assignment-priority order (the group whose profile Okta applies first comes first).

    Runs only when a GROUP failure has no groups yet. One page of group assignments (per 200 groups) gives
    names and priorities; then whichever of two ways takes fewer calls:

    * one "List all groups of a user" per failed user (``GET /api/v1/users/{id}/groups``, up to 200 groups a
      page, so one call for almost every user), intersected with the assigned groups, or
    * one member listing per assigned group (``GET /api/v1/groups/{id}/users``, 1,000 members a page).

    An incremental run with a few new failures on an app with 50 assigned groups thus costs a few user
    reads, not 50 member listings; a first run with hundreds of failures lists the groups. On a tie the user
    reads win: a group listing can need more than one page, a user's rarely does. Both are outside the
    ``/api/v1/apps`` bucket the app-user scan is bound by (okta-api.md §2.2). ``stats.groups_read`` counts
    the membership reads of either kind.
    """
    needing = sorted(uid for uid, f in failures.items() if f.scope == "GROUP" and not f.groups)
    if not needing:
        return failures
    assignments = await gateway.list_group_assignments(app_id)
    assignments.sort(key=lambda a: (a.priority if a.priority is not None else 1 << 30, a.group_id))
    found: dict[str, list[str]] = {uid: [] for uid in needing}
    by_user = len(needing) <= len(assignments)
    if by_user:
        try:
            # The first read shows whether okta.users.read is granted; the rest are independent and go
            # concurrently (the gateway bounds and paces them): hundreds take seconds, not minutes.
            first = await _groups_of_user(gateway, needing[0])
        except AuthError as exc:
            if exc.status != 403:
                raise
            # okta.users.read not granted (a narrowed `oauth.scopes`, or the admin role): the member
            # listings need only okta.groups.read, which worked before this path existed.
            stats.notes.append(
                "okta.users.read was refused (403): found the groups of failed users by listing the "
                "members of every assigned group instead"
            )
            by_user = False
        else:
            rest = await asyncio.gather(*(_groups_of_user(gateway, uid) for uid in needing[1:]))
            rank = {a.group_id: i for i, a in enumerate(assignments)}
            for uid, member_of in zip(needing, [first, *rest], strict=True):
                stats.groups_read += 1
                for index in sorted({rank[gid] for gid in member_of if gid in rank}):
                    assignment = assignments[index]
                    found[uid].append(assignment.group_name or assignment.group_id)
    if not by_user:
        wanted = set(needing)
        listings = await asyncio.gather(*(gateway.list_group_member_ids(a.group_id) for a in assignments))
        for assignment, members in zip(assignments, listings, strict=True):
            stats.groups_read += 1
            for uid in wanted.intersection(members):
                found[uid].append(assignment.group_name or assignment.group_id)
    out = dict(failures)
    for uid, names in found.items():
        out[uid] = replace(out[uid], groups=tuple(names))
    return out


async def scan(
    gateway: OktaGateway,
    app_id: str,
    state: TasksState,
    *,
    now: datetime,
    lookback: timedelta,
    full_scan_interval: timedelta,
    force_full: bool = False,
    progress: Progress = NULL_PROGRESS,
) -> tuple[dict[str, Failure], list[Resolution], ScanStats]:
    """The app's current failures and what resolved since the last run. Updates the cursor fields of
    ``state`` (cursor, seen events, last events, last full scan); the caller stores ``failures``."""
    stats = ScanStats()
    now_iso = iso(now)
    since_dt = parse_iso(state.cursor) - OVERLAP if state.cursor else now - lookback
    since_dt = max(since_dt, now - timedelta(days=90))  # System Log retention (okta-api.md §1.6)
    stats.since, stats.until = iso(since_dt), now_iso

    progress.start("tasks: reading the System Log")
    events = await read_events(gateway, app_id, stats.since, now_iso)
    progress.finish("tasks: reading the System Log")
    fresh = [e for e in events if e.uuid not in state.seen_events]
    stats.events_read = len(fresh)

    # Latest new event per user; remember failure events (reason, operation, when) until superseded.
    touched: dict[str, dict[str, Any]] = {}
    for event in fresh:
        user = event_user(event)
        if user is None:
            continue
        touched[str(user["id"])] = summarize(event, user)
    for uid, summary in touched.items():
        if _is_failure(summary):
            state.last_events[uid] = summary
        else:
            state.last_events.pop(uid, None)
    horizon = now - OVERLAP
    state.seen_events = {e.uuid: e.published for e in events if parse_iso(e.published) >= horizon}
    state.cursor = now_iso

    previous = state.failures
    new_lookups = [
        uid for uid, s in touched.items() if _is_failure(s, CREATE, UPDATE) and uid not in previous
    ]
    lookup_budget = max(20, state.app_user_count // APP_USER_PAGE)
    full = (
        force_full
        or state.last_full_scan is None
        or now - parse_iso(state.last_full_scan) >= full_scan_interval
        or len(new_lookups) > lookup_budget
    )
    current: dict[str, Failure] = {}
    assigned: set[str] | None = None  # users known to be assigned (full mode) for resolution reasons
    unassigned: set[str] = set()
    if full:
        stats.mode = "full"
        progress.start("tasks: reading app users")
        app_users = await gateway.list_app_users(app_id)
        progress.finish("tasks: reading app users")
        stats.app_users_read = len(app_users)
        by_id = {au.id: au for au in app_users}
        assigned = set(by_id)
        for au in app_users:
            if au.sync_state == "ERROR":
                known = state.last_events.get(au.id)
                if known and known.get("operation") == DEACTIVATE:
                    known = None
                current[au.id] = build_failure(
                    user_id=au.id, app_user=au, event=known, previous=previous.get(au.id), now=now_iso
                )
        for uid, known_event in list(state.last_events.items()):
            if uid in current:
                continue
            if _is_failure(known_event, DEACTIVATE) and uid not in by_id:
                current[uid] = build_failure(
                    user_id=uid, app_user=None, event=known_event, previous=previous.get(uid), now=now_iso
                )
            else:
                state.last_events.pop(uid)  # the app user is not in ERROR (or was reassigned): stale
        state.last_full_scan = now_iso
        state.app_user_count = len(app_users)
    else:
        stats.mode = "incremental"
        current = dict(previous)
        for uid, summary in touched.items():
            if _is_failure(summary, CREATE, UPDATE):
                prior = previous.get(uid)
                if prior is not None and prior.scope is not None:
                    current[uid] = build_failure(
                        user_id=uid, app_user=None, event=summary, previous=prior, now=now_iso
                    )
                    current[uid] = replace(
                        current[uid],
                        scope=prior.scope,
                        groups=prior.groups,
                        sync_state=prior.sync_state,
                        status=prior.status,
                    )
                    continue
                found = await gateway.get_app_user(app_id, uid)
                stats.lookups += 1
                if found is None:
                    current.pop(uid, None)
                    unassigned.add(uid)
                elif found.sync_state == "ERROR":
                    current[uid] = build_failure(
                        user_id=uid, app_user=found, event=summary, previous=prior, now=now_iso
                    )
                else:
                    current.pop(uid, None)  # already pushed again (SYNCING/SYNCHRONIZED) since the event
            elif _is_failure(summary, DEACTIVATE):
                current[uid] = build_failure(
                    user_id=uid, app_user=None, event=summary, previous=previous.get(uid), now=now_iso
                )
            else:
                current.pop(uid, None)
                if summary["type"] == MEMBERSHIP_REMOVE:
                    unassigned.add(uid)

    current = await attribute_groups(gateway, app_id, current, stats)

    resolutions = []
    for uid, old in previous.items():
        if uid in current:
            continue
        gone = uid in unassigned or (
            assigned is not None and uid not in assigned and old.operation != DEACTIVATE
        )
        resolutions.append(
            Resolution(uid, old.login, old.operation, "unassigned" if gone else "recovered", now_iso)
        )
    return current, resolutions, stats
