"""Find the failed assignments of one app: the app-user scan, System Log events since a cursor, or both.

Two modes, chosen per run (docs/tasks.md "Cost"):

* **full** — every app user at the maximum page size (``list_app_users``: 500 per page) and keep those with
  ``syncState: ERROR``; the System Log tells operation, time and reason. Used on the first run, when the last
  full scan is older than ``full_scan_interval``, on ``--full-scan``, whenever the incremental path would
  need more single reads than a full scan costs, and when an event names no Okta user (below).
* **incremental** — only the System Log events since the cursor: a failure event adds the user (one
  ``get_app_user`` to confirm ``ERROR`` and read login/email/scope), a later success, removal or deactivation
  of that user resolves it. An app of 50,000 users costs ~100 app-user pages per full scan; an incremental
  run costs a log page or two plus one read per *new* failure.

**Who an event is about.** A provisioning event's ``AppUser`` target carries the app user's own id (``0ua…``),
which no API takes; the Okta user id (``00u…``) is the ``User`` target's (docs/okta-behaviour.md, "System Log
and provisioning events"). Everything here is keyed by the ``User`` target. An event without one is matched
to an app user by the ``AppUser`` target's ``alternateId`` (the app username, ``credentials.userName``) on a
full scan; what still matches nobody is reported in the run's notes, never dropped silently.

The log query is bounded (``since``..``until``): bounded queries end, polling queries never do.
Consecutive windows overlap by ``model.LOG_OVERLAP`` and events are de-duplicated by uuid, because Okta says
events may reach the log late ("Not all events for the specified time range may be present— events may be
delayed", System Log API reference, bounded requests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from oktasync.errors import AuthError, NotFoundError
from oktasync.models import AppUser, LogEvent
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import NullProgress, Progress
from oktasync.timestamps import okta_time, parse_time
from oktasync.workflows.tasks.model import (
    CREATE,
    DEACTIVATE,
    EVENT_TYPES,
    LOG_OVERLAP,
    MEMBERSHIP_REMOVE,
    OPERATIONS,
    UPDATE,
    EventSummary,
    Failure,
    Resolution,
    ScanStats,
    split_reason,
)
from oktasync.workflows.tasks.state import TasksState

log = logging.getLogger("oktasync.tasks")
NULL_PROGRESS: Progress = NullProgress()

APP_USER_PAGE = 500  # list_app_users page size (the spec's limit for app users: 1..500)
PROVISION_PREFIX = "application.provision.user."


def log_filters(app_id: str) -> list[str]:
    """Two filters: the app's user-provisioning events (``eventType sw``) and its membership removals.

    ``target.id eq``, ``eventType eq|sw`` joined by ``and`` are the System Log API's documented filter
    expressions; Okta's own guide suggests ``eventType sw "application.provision."`` for provisioning events.
    A single ``target.id`` query would also return every sign-in to the app, which on a 50,000-user app
    dwarfs the provisioning events. Both outcomes are read on purpose: a later SUCCESS of the same user is how
    an incremental run sees a recovery without reading every app user. Event types we do not act on (password
    pushes, imports) are dropped by ``read_events``.
    """
    return [
        f'target.id eq "{app_id}" and eventType sw "{PROVISION_PREFIX}"',
        f'target.id eq "{app_id}" and eventType eq "{MEMBERSHIP_REMOVE}"',
    ]


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
    return sorted(kept.values(), key=lambda e: (parse_time(e.published), e.event_type != MEMBERSHIP_REMOVE))


def _target(event: LogEvent, kind: str) -> dict[str, Any] | None:
    for target in event.targets:
        if target.get("type") == kind and target.get("id"):
            return target
    return None


def event_user(event: LogEvent) -> dict[str, Any] | None:
    """The event's ``User`` target: the Okta user id (``00u…``), login (``alternateId``), display name.

    Never the ``AppUser`` target: its id is the app user's own (``0ua…``), which no API reads by.
    """
    return _target(event, "User")


def event_app_user(event: LogEvent) -> dict[str, Any] | None:
    """The event's ``AppUser`` target: the app user's own id and, as ``alternateId``, its app username."""
    return _target(event, "AppUser")


def describe_event(event: LogEvent) -> str:
    """An event in a note: type, time and the app user it names (when it names no Okta user)."""
    app_user = event_app_user(event) or {}
    who = app_user.get("alternateId") or app_user.get("displayName") or app_user.get("id") or "nobody"
    outcome = f" {event.result}" if event.result else ""
    return f"{event.event_type}{outcome} at {event.published} for app user {who!r}"


UserResolver = Callable[[LogEvent], str | None]


def resolver_from(app_users: Iterable[AppUser], known: dict[str, Failure]) -> UserResolver:
    """Find the Okta user of an event without a ``User`` target: its ``AppUser`` target's ``alternateId`` is
    the app username (``credentials.userName``); a user no longer assigned may still be a known failure."""
    by_name: dict[str, str] = {}
    for failure in known.values():
        for name in (failure.login, failure.email):
            if name:
                by_name.setdefault(name.lower(), failure.user_id)
    for au in app_users:
        for name in (au.user_name, au.login):
            if name:
                by_name[name.lower()] = au.id

    def resolve(event: LogEvent) -> str | None:
        user = event_user(event)
        if user is not None:
            return str(user["id"])
        app_user = event_app_user(event) or {}
        name = str(app_user.get("alternateId") or "").lower()
        return by_name.get(name) if name else None

    return resolve


def by_user_target(event: LogEvent) -> str | None:
    user = event_user(event)
    return str(user["id"]) if user is not None else None


def summarize(event: LogEvent, user: dict[str, Any] | None = None) -> EventSummary:
    user = user or event_user(event) or {}
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


def is_failure(summary: EventSummary | None, *operations: str) -> bool:
    """A provisioning failure (of one of ``operations``, when given). A failure that names no operation (a
    ``.sync`` event) concerns an assigned user, so it counts as a create-or-update failure."""
    if not summary or summary.get("result") != "FAILURE" or summary.get("type") not in OPERATIONS:
        return False
    if not operations:
        return True
    operation = summary.get("operation")
    return operation in operations if operation else bool({CREATE, UPDATE} & set(operations))


def merge_failure(earlier: EventSummary | None, later: EventSummary) -> EventSummary:
    """The failure ``later`` reports, with the reason and operation an ``earlier`` failure of the same user
    (no success in between) gave when ``later`` has none: Okta logs a ``.sync`` failure with a null reason
    beside the push event that carries it."""
    if earlier is None or not is_failure(earlier) or not is_failure(later):
        return later
    merged = later.copy()
    if not merged.get("reason"):
        merged["reason"] = earlier.get("reason")
    if not merged.get("operation"):
        merged["operation"] = earlier.get("operation")
    return merged


def _infer_operation(app_user: AppUser | None, previous: Failure | None) -> str:
    # A user never created on the target (no externalId) failed its create, one that was created an update.
    if app_user is not None:
        return CREATE if not app_user.external_id else UPDATE
    return previous.operation if previous is not None else UPDATE


def build_failure(
    *,
    user_id: str,
    app_user: AppUser | None,
    event: EventSummary | None,
    previous: Failure | None,
    now: str,
) -> Failure:
    """One failure from what we know: the app user (if still assigned), its failure event, the last run."""
    if event and is_failure(event):
        source = "log" if event.get("operation") else "inferred"
        operation = str(event.get("operation") or _infer_operation(app_user, previous))
        reason: str | None = event.get("reason")
        failed_at: str | None = event.get("published")
        event_id: str | None = event.get("uuid")
    elif previous is not None:
        operation, source = previous.operation, previous.operation_source
        reason, failed_at, event_id = previous.reason, previous.failed_at, previous.event_id
    else:
        # No failure event in the window (older than the look-back, or log retention passed).
        operation = _infer_operation(app_user, None) if app_user is not None else UPDATE
        source, reason, event_id = "inferred", None, None
        failed_at = app_user.last_updated if app_user is not None else None
    okta, target = split_reason(reason)
    login = (
        (app_user.login if app_user else None)
        or (event.get("login") if event else None)
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
    ``/api/v1/apps`` bucket the app-user scan is bound by (docs/tasks.md, "Cost").
    ``stats.groups_read`` counts the membership reads of either kind.
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


async def _list_app_users(gateway: OktaGateway, app_id: str, progress: Progress) -> list[AppUser]:
    progress.start("tasks: reading app users")
    app_users = await gateway.list_app_users(app_id)
    progress.finish("tasks: reading app users")
    return app_users


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
    now_iso = okta_time(now)
    events = await _read_window(gateway, app_id, state, now, lookback, stats, progress)
    fresh = [e for e in events if e.uuid not in state.seen_events]
    stats.events_read = len(fresh)

    previous = state.failures
    # An event that names no Okta user is matched to an app user by its app username: that needs every app
    # user, so such an event makes this run a full scan.
    app_users: list[AppUser] | None = None
    resolve: UserResolver = by_user_target
    if any(event_user(e) is None for e in fresh):
        app_users = await _list_app_users(gateway, app_id, progress)
        resolve = resolver_from(app_users, previous)

    touched = _touched_users(fresh, state, resolve, stats)
    remember_touched(state, touched)
    horizon = now - LOG_OVERLAP
    state.seen_events = {e.uuid: e.published for e in events if parse_time(e.published) >= horizon}
    state.cursor = now_iso

    assigned: set[str] | None = None  # users known to be assigned (full mode) for resolution reasons
    unassigned: set[str] = set()
    if _needs_full_scan(state, touched, now, full_scan_interval, force_full or app_users is not None):
        stats.mode = "full"
        if app_users is None:
            app_users = await _list_app_users(gateway, app_id, progress)
        current = _full_scan_failures(app_users, state, now_iso)
        stats.app_users_read = len(app_users)
        assigned = {au.id for au in app_users}
    else:
        stats.mode = "incremental"
        current, unassigned, stats.lookups = await apply_touched(gateway, app_id, touched, previous, now_iso)

    current = await attribute_groups(gateway, app_id, current, stats)
    return current, _resolutions(previous, current, unassigned, assigned, now_iso), stats


async def _read_window(
    gateway: OktaGateway,
    app_id: str,
    state: TasksState,
    now: datetime,
    lookback: timedelta,
    stats: ScanStats,
    progress: Progress,
) -> list[LogEvent]:
    """The events since the cursor (less the overlap), or ``lookback`` on a first run, within retention."""
    since_dt = parse_time(state.cursor) - LOG_OVERLAP if state.cursor else now - lookback
    since_dt = max(since_dt, now - timedelta(days=90))  # System Log retention: 90 days
    stats.since, stats.until = okta_time(since_dt), okta_time(now)
    progress.start("tasks: reading the System Log")
    events = await read_events(gateway, app_id, stats.since, stats.until)
    progress.finish("tasks: reading the System Log")
    return events


def _touched_users(
    fresh: list[LogEvent], state: TasksState, resolve: UserResolver, stats: ScanStats
) -> dict[str, EventSummary]:
    """Latest new event per user; a failure keeps the reason and operation of the failure it follows."""
    touched: dict[str, EventSummary] = {}
    for event in fresh:
        uid = resolve(event)
        if uid is None:
            stats.notes.append(
                f"{describe_event(event)} names no Okta user (no User target) and matches no app user; "
                "see Dashboard > Tasks in the Admin Console"
            )
            continue
        summary = summarize(event, event_user(event))
        touched[uid] = merge_failure(touched.get(uid) or state.last_events.get(uid), summary)
    return touched


def remember_touched(state: TasksState, touched: dict[str, EventSummary]) -> None:
    """Keep each user's latest failure event (its reason and operation); a success forgets it."""
    for uid, summary in touched.items():
        if is_failure(summary):
            state.last_events[uid] = summary
        else:
            state.last_events.pop(uid, None)


def _needs_full_scan(
    state: TasksState,
    touched: dict[str, EventSummary],
    now: datetime,
    full_scan_interval: timedelta,
    forced: bool,
) -> bool:
    """Full on request, on a first run, when the last full scan is old, or when the single reads of new
    failures would cost more than the app-user pages of a full scan."""
    new_lookups = [
        uid for uid, s in touched.items() if is_failure(s, CREATE, UPDATE) and uid not in state.failures
    ]
    lookup_budget = max(20, state.app_user_count // APP_USER_PAGE)
    return (
        forced
        or state.last_full_scan is None
        or now - parse_time(state.last_full_scan) >= full_scan_interval
        or len(new_lookups) > lookup_budget
    )


def _full_scan_failures(app_users: list[AppUser], state: TasksState, now_iso: str) -> dict[str, Failure]:
    """Every app user in ``ERROR``, plus failed deactivations of users no longer assigned; forgets the last
    events of users that no longer fail."""
    previous = state.failures
    by_id = {au.id: au for au in app_users}
    current: dict[str, Failure] = {}
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
        if is_failure(known_event, DEACTIVATE) and uid not in by_id:
            current[uid] = build_failure(
                user_id=uid, app_user=None, event=known_event, previous=previous.get(uid), now=now_iso
            )
        else:
            state.last_events.pop(uid)  # the app user is not in ERROR (or was reassigned): stale
    state.last_full_scan = now_iso
    state.app_user_count = len(app_users)
    return current


async def apply_touched(
    gateway: OktaGateway,
    app_id: str,
    touched: dict[str, EventSummary],
    previous: dict[str, Failure],
    now_iso: str,
) -> tuple[dict[str, Failure], set[str], int]:
    """The failures after the events in ``touched`` (latest summary per user), without a full scan: a failed
    create/update is confirmed by reading the app user (still ``syncState: ERROR``), a failed deactivation is
    taken from the event, a success or a membership removal resolves the user.

    Returns the failures, the users found unassigned, and how many app users were read. Used by the
    incremental scan and by the event-hook receiver (``workflows/hooks/apply.py``).
    """
    current, unassigned, lookups = dict(previous), set[str](), 0
    for uid, summary in touched.items():
        if is_failure(summary, CREATE, UPDATE):
            prior = previous.get(uid)
            if prior is not None and prior.scope is not None:
                current[uid] = _known_failure_again(uid, summary, prior, now_iso)
                continue
            found = await gateway.get_app_user(app_id, uid)
            lookups += 1
            if found is None:
                current.pop(uid, None)
                unassigned.add(uid)
            elif found.sync_state == "ERROR":
                current[uid] = build_failure(
                    user_id=uid, app_user=found, event=summary, previous=prior, now=now_iso
                )
            else:
                current.pop(uid, None)  # already pushed again (SYNCING/SYNCHRONIZED) since the event
        elif is_failure(summary, DEACTIVATE):
            current[uid] = build_failure(
                user_id=uid, app_user=None, event=summary, previous=previous.get(uid), now=now_iso
            )
        else:
            current.pop(uid, None)
            if summary["type"] == MEMBERSHIP_REMOVE:
                unassigned.add(uid)
    return current, unassigned, lookups


def _known_failure_again(uid: str, summary: EventSummary, prior: Failure, now_iso: str) -> Failure:
    """A known, still-assigned failure that failed again: the new event, the assignment already read."""
    rebuilt = build_failure(user_id=uid, app_user=None, event=summary, previous=prior, now=now_iso)
    return replace(
        rebuilt, scope=prior.scope, groups=prior.groups, sync_state=prior.sync_state, status=prior.status
    )


def _resolutions(
    previous: dict[str, Failure],
    current: dict[str, Failure],
    unassigned: set[str],
    assigned: set[str] | None,
    now_iso: str,
) -> list[Resolution]:
    """Each earlier failure that no longer fails: ``unassigned`` when the user left the app, else
    ``recovered``."""
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
    return resolutions
