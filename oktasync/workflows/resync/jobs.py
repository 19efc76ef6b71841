"""Waiting for Okta's background jobs (docs/resync.md "Waiting for Okta's background jobs"): the app users
of the roster removed after the unassignments, re-created and pushed after the reassignments, and after a
roll back re-created before Deactivate Users goes back on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from oktasync.models import AppUser
from oktasync.workflows.resync.crash import crashpoint
from oktasync.workflows.resync.result import USER_PAGE, pages
from oktasync.workflows.resync.roster import roster_users, status_mark
from oktasync.workflows.resync.run import ResyncRun
from oktasync.workflows.resync.snapshot import count_users
from oktasync.workflows.resync.steps import ROLLBACK_WAIT, NotRepushed, RemovalWait, ReturnWait, Step

# An app user's push is over when its syncState is one of these: pushed, failed (a task), or never pushed.
SETTLED_SYNC_STATES = frozenset({"SYNCHRONIZED", "ERROR", "DISABLED"})

Listing = dict[str, AppUser]


async def poll_app_users(
    run: ResyncRun, title: str, phase: str, waiting: Callable[[Listing], set[str]], total: int
) -> tuple[set[str], Listing, float, int]:
    """Read the app users (each request paced by the gateway) until ``waiting(listing)`` is empty or
    ``options.job_timeout`` has passed; Ctrl-C stops at the next poll. The first poll lists them all; a
    later one reads only the app users still waited for, one request each, when that takes fewer requests
    than the listing's pages. Returns what is still waited for, the last listing (with those re-reads
    applied), the seconds waited and the number of polls."""
    options = run.options
    started = time.monotonic()
    interval = options.job_poll_first
    polls = counted = 0
    listing: Listing | None = None
    pending: set[str] = set()
    run.progress.start(title, total=total)
    try:
        while True:
            run.check_stop(title)
            if listing is None or len(pending) >= pages(len(listing), USER_PAGE):
                listing = {u.id: u for u in await run.gateway.list_app_users(run.app.id, with_user=False)}
            else:
                await _reread(run, listing, pending)
            polls += 1
            crashpoint(f"{phase}.polling")
            pending = waiting(listing)
            if total - len(pending) > counted:
                run.progress.advance(title, total - len(pending) - counted)
                counted = total - len(pending)
            elapsed = time.monotonic() - started
            if not pending or elapsed >= options.job_timeout:
                return pending, listing, elapsed, polls
            await asyncio.sleep(min(interval, options.job_timeout - elapsed))
            interval = min(interval * 1.5, options.job_poll_max)
    finally:
        run.progress.finish(title)


async def _reread(run: ResyncRun, listing: Listing, user_ids: Iterable[str]) -> None:
    """Bring ``listing`` up to date for ``user_ids``: read each app user (gone when Okta answers 404)."""

    async def one(uid: str) -> None:
        user = await run.gateway.get_app_user(run.app.id, uid)
        if user is None:
            listing.pop(uid, None)
        else:
            listing[uid] = user

    await run.bounded(sorted(user_ids), one)


async def await_removal(run: ResyncRun) -> None:
    """Before reassigning: wait until Okta's unassignment jobs removed every app user of the roster.
    An app user still there when the groups come back is never re-created, so it is not re-pushed."""
    roster = roster_users(run)

    def still_there(listing: Listing) -> set[str]:
        return {uid for uid in roster if uid in listing and listing[uid].scope == "GROUP"}

    pending, _, seconds, polls = await poll_app_users(
        run, "wait for Okta to remove app users", Step.REMOVAL_WAIT, still_there, len(roster)
    )
    if pending:
        run.progress.note(
            f"{len(pending)} app user(s) were still there after {seconds:.0f}s "
            "(--job-timeout): reassigning anyway so that nobody stays without access; they will be "
            "reported as not re-pushed"
        )
    outcome = "timeout" if pending else "complete"
    run.journal.done(
        Step.REMOVAL_WAIT, RemovalWait(outcome, tuple(sorted(pending)), round(seconds, 3), polls)
    )
    run.reload()
    # Removal jobs ran during the wait: had someone switched Deactivate Users on, they deactivated.
    await run.deactivate_is_on("after_removal", -1)


def removals_unseen(run: ResyncRun) -> tuple[str, ...]:
    """Roster users never seen removed: Okta's unassignment job for them may still be pending."""
    return run.state.removal_wait.still_present if run.state.removal_wait is not None else ()


def _not_repushed_reason(
    uid: str, listing: Listing, seen_gone: set[str], roster: dict[str, str]
) -> str | None:
    """Why the roster user ``uid`` is not (yet) proven re-pushed, or None when it is."""
    user = listing.get(uid)
    if user is None:
        return "missing"  # Okta's assignment job has not (re)created the app user
    if uid not in seen_gone and not status_mark(user) > roster[uid]:
        return "stale"  # never removed: the same app user as before, nothing re-pushed
    if user.sync_state not in SETTLED_SYNC_STATES:
        return "pending"  # the push has not finished
    if user.sync_state == "DISABLED":
        return "not_pushed"  # provisioning does not push to this app
    return None


async def await_return(run: ResyncRun) -> None:
    """After reassigning: wait until every roster user is back as a fresh app user whose push is over
    (syncState SYNCHRONIZED or ERROR), then journal who was re-pushed and who was not, and the app users
    counted by the last reads (the report's "after")."""
    roster = roster_users(run)
    seen_gone = set(roster) - set(removals_unseen(run))

    def waiting(listing: Listing) -> set[str]:
        final = {None, "not_pushed"}
        return {u for u in roster if _not_repushed_reason(u, listing, seen_gone, roster) not in final}

    _, listing, seconds, polls = await poll_app_users(
        run, "wait for Okta to re-create app users", Step.RETURN_WAIT, waiting, len(roster)
    )
    not_repushed: list[NotRepushed] = []
    failed: list[str] = []
    for uid in sorted(roster):
        reason = _not_repushed_reason(uid, listing, seen_gone, roster)
        user = listing.get(uid)
        if reason is not None:
            name, state = (user.user_name, user.sync_state) if user else (None, None)
            not_repushed.append(NotRepushed(uid, name, reason, state))
        elif user is not None and user.sync_state == "ERROR":
            failed.append(uid)
    app_users_after, sync_states_after = count_users(listing.values())
    record = ReturnWait(
        outcome="timeout" if any(n.reason != "not_pushed" for n in not_repushed) else "complete",
        expected=len(roster),
        repushed=len(roster) - len(not_repushed),
        push_failed=tuple(failed),
        not_repushed=tuple(not_repushed),
        seconds=round(seconds, 3),
        polls=polls,
        app_users_after=app_users_after,
        sync_states_after=sync_states_after,
    )
    run.journal.done(Step.RETURN_WAIT, record)
    run.reload()


async def await_rollback_jobs(run: ResyncRun, back: set[str]) -> list[str]:
    """After a roll back, before Deactivate Users goes back on: wait until every app user that only the
    unassigned groups entitled is an app user again (Okta's assignment job re-created the ones its
    removal job took away). A removal job that runs later finds them entitled and removes nobody
    (assumed, as the emulator models it: docs/resync.md "Ctrl-C"). Returns those still missing."""
    roster = roster_users(run)
    if not roster or not back:
        return []
    entitled_throughout: set[str] = set()
    for gid in run.expected:
        if gid not in back:
            entitled_throughout.update(await run.gateway.list_group_member_ids(gid))
    affected = [uid for uid in roster if uid not in entitled_throughout]

    def waiting(listing: Listing) -> set[str]:
        return {uid for uid in affected if uid not in listing}

    pending, _, _, _ = await poll_app_users(
        run, "wait for Okta to re-create app users", ROLLBACK_WAIT, waiting, len(affected)
    )
    return sorted(pending)
